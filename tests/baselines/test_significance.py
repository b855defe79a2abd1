"""The paired comparison of two models against values computed here independently of scipy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from imdb_sentiment.baselines.significance import PairedTest, describe, paired_test

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile


def paired(both: int, only_a: int, only_b: int, neither: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Labels and two models' predictions with exactly these right/wrong counts, in shuffled order and mixed
    labels, so the counts can only come out right if the predictions are compared with the labels."""
    rng = np.random.default_rng(seed)
    right_a = np.repeat([True, True, False, False], [both, only_a, only_b, neither])
    right_b = np.repeat([True, False, True, False], [both, only_a, only_b, neither])
    order = rng.permutation(right_a.size)
    labels = rng.integers(0, 2, right_a.size)
    return labels, np.where(right_a[order], labels, 1 - labels), np.where(right_b[order], labels, 1 - labels)


def exact_p(b: int, c: int) -> float:
    """Two-sided exact binomial p at 0.5 by counting: twice the smaller tail, capped at 1."""
    m = b + c
    return min(1.0, 2 * sum(math.comb(m, k) for k in range(min(b, c) + 1)) / 2**m)


def test_exact_p_for_ten_against_two():
    test = paired_test(*paired(50, 10, 2, 8))
    assert exact_p(10, 2) == 0.03857421875
    assert test.p_value == pytest.approx(0.03857421875, rel=1e-12)
    assert paired_test(*paired(50, 2, 10, 8)).p_value == pytest.approx(test.p_value, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(1, 0), (5, 0), (7, 3), (3, 7), (20, 9), (40, 41), (100, 70)])
def test_p_value_matches_counting(b, c):
    assert paired_test(*paired(30, b, c, 5)).p_value == pytest.approx(exact_p(b, c), rel=1e-9)


def test_symmetric_discordance_gives_p_one_and_an_interval_around_zero():
    test = paired_test(*paired(70, 9, 9, 12))
    assert test.p_value == pytest.approx(1.0)
    assert test.difference == 0.0
    assert test.ci_low == pytest.approx(-test.ci_high) and test.ci_low < 0 < test.ci_high


def test_no_discordant_pairs_gives_p_one_and_a_zero_width_interval():
    test = paired_test(*paired(60, 0, 0, 40))
    assert test.p_value == 1.0
    assert test.difference == test.ci_low == test.ci_high == 0.0
    assert test.accuracy_a == test.accuracy_b == 0.6


def test_counts_and_accuracies_add_up():
    labels, a, b = paired(123, 45, 31, 17, seed=3)
    test = paired_test(labels, a, b)
    assert (test.n, test.both_right, test.only_a_right, test.only_b_right, test.both_wrong) == (216, 123, 45, 31, 17)
    assert test.both_right + test.only_a_right + test.only_b_right + test.both_wrong == test.n
    assert test.accuracy_a == pytest.approx(np.mean(a == labels)) == pytest.approx(168 / 216)
    assert test.accuracy_b == pytest.approx(np.mean(b == labels)) == pytest.approx(154 / 216)
    assert test.difference == pytest.approx(test.accuracy_a - test.accuracy_b)


def test_interval_is_the_paired_wald_interval():
    b, c, n = 45, 31, 216
    test = paired_test(*paired(123, b, c, 17))
    p_b, p_c = b / n, c / n  # the textbook form: var = (p_b + p_c - (p_b - p_c)^2) / n
    se = math.sqrt((p_b + p_c - (p_b - p_c) ** 2) / n)
    assert (test.ci_low, test.ci_high) == pytest.approx((p_b - p_c - Z95 * se, p_b - p_c + Z95 * se), rel=1e-9)
    wider = paired_test(*paired(123, b, c, 17), confidence=0.99)
    assert wider.ci_low < test.ci_low and wider.ci_high > test.ci_high and wider.confidence == 0.99


def test_interval_width_shrinks_with_n_as_one_over_root_n():
    widths = [(lambda t: t.ci_high - t.ci_low)(paired_test(*paired(80 * k, 12 * k, 5 * k, 3 * k))) for k in (1, 4, 16)]
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[1] == pytest.approx(2.0) and widths[1] / widths[2] == pytest.approx(2.0)


def test_interval_covers_the_true_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    cells = [0.80, 0.08, 0.06, 0.06]  # both right, only a, only b, neither; true difference 0.02
    covered = []
    for seed in range(300):
        counts = rng.multinomial(1500, cells)
        test = paired_test(*paired(*(int(x) for x in counts), seed=seed))
        covered.append(test.ci_low <= 0.02 <= test.ci_high)
    assert 0.91 <= np.mean(covered) <= 0.99


@pytest.mark.parametrize(
    ("labels", "a", "b", "message"),
    [
        ([0, 1, 1], [0, 1], [0, 1, 1], r"\[3, 2, 3\]"),
        ([0, 1], [0, 1], [0, 1, 0], r"\[2, 2, 3\]"),
        ([], [], [], r"\[0, 0, 0\]"),
        ([[0, 1]], [[0, 1]], [[0, 1]], "1-D"),
        ([0, 2], [0, 1], [0, 1], "0 or 1"),
    ],
)
def test_bad_inputs_raise(labels, a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_test(labels, a, b)


def test_as_dict_is_plain_and_json_ready():
    test = paired_test(*paired(50, 10, 2, 8))
    values = test.as_dict()
    assert json.loads(json.dumps(values)) == values
    assert {type(v) for v in values.values()} <= {int, float}
    assert type(values["n"]) is int and type(values["p_value"]) is float
    assert PairedTest(**values) == test


def test_describe_states_counts_interval_p_and_significance():
    text = describe(paired_test(*paired(24_000, 600, 400, 0)), "the wide model", "the baseline")
    assert text.startswith("On the same 25,000 test reviews, the wide model is right on 600 that the baseline")
    assert "wrong on 400 that the baseline gets right" in text
    assert "+0.0080 (95 % interval +0.0" in text and "p < 0.001" in text
    assert text.endswith("is significant at the 0.05 level.")
    even = describe(paired_test(*paired(70, 9, 9, 12)), "a", "b")
    assert "p = 1.000" in even and "is not significant" in even and "-0.0" in even
