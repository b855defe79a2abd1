"""Whether two models' accuracies on the same test reviews really differ, or only by the luck of the draw.

Both models score the same reviews, so their errors are paired: only the reviews where exactly one of them is
right carry information about which is better. McNemar's exact test and the paired (Wald) interval for matched
proportions use just those discordant counts; comparing two independent accuracy intervals would ignore the
pairing and call real differences insignificant.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

SIGNIFICANCE_LEVEL = 0.05  # the level describe() reports the difference against


@dataclass(frozen=True)
class PairedTest:
    """Two models' right and wrong answers on the same reviews, their accuracy difference and its uncertainty."""

    n: int  # reviews both models scored
    both_right: int
    only_a_right: int  # a right, b wrong
    only_b_right: int  # b right, a wrong
    both_wrong: int
    accuracy_a: float
    accuracy_b: float
    difference: float  # accuracy_a - accuracy_b
    ci_low: float  # the paired Wald interval of the difference for matched proportions
    ci_high: float
    p_value: float  # McNemar's exact test: two-sided binomial test on the discordant pairs, p = 0.5
    confidence: float = 0.95  # the interval's level, so describe() names the right one

    def as_dict(self) -> dict[str, float | int]:
        """Plain ints and floats (no NumPy scalars), so the result goes into a JSON report as it is."""
        return {key: (int(value) if isinstance(value, int) else float(value)) for key, value in asdict(self).items()}


def _checked(labels, predicted_a, predicted_b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three inputs as 1-D 0/1 arrays; a mismatch would silently pair the wrong reviews, so it is an error."""
    arrays = tuple(np.asarray(a) for a in (labels, predicted_a, predicted_b))
    lengths = [a.shape[0] if a.ndim == 1 else a.shape for a in arrays]
    if any(a.ndim != 1 for a in arrays) or len(set(lengths)) != 1 or lengths[0] == 0:
        raise ValueError(f"labels and both predictions must be non-empty 1-D arrays of one length, got {lengths}")
    if any(not np.isin(a, (0, 1)).all() for a in arrays):
        raise ValueError("labels and predictions must be 0 or 1")
    return arrays


def paired_test(labels, predicted_a, predicted_b, confidence: float = 0.95) -> PairedTest:
    """Model a against model b on the same reviews: counts, accuracies, the difference's interval and McNemar's p."""
    y, a, b = _checked(labels, predicted_a, predicted_b)
    right_a, right_b = a == y, b == y
    n = int(y.shape[0])
    both, only_a, only_b = (int(np.sum(m)) for m in (right_a & right_b, right_a & ~right_b, ~right_a & right_b))
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else float(stats.binomtest(min(only_a, only_b), discordant, 0.5).pvalue)
    d = (only_a - only_b) / n
    se = math.sqrt(max(0.0, discordant - (only_a - only_b) ** 2 / n)) / n  # max(): guards rounding below zero
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    acc_a, acc_b = (both + only_a) / n, (both + only_b) / n
    return PairedTest(
        n, both, only_a, only_b, n - both - only_a - only_b, acc_a, acc_b, d, d - z * se, d + z * se, p, confidence
    )


def describe(test: PairedTest, name_a: str, name_b: str) -> str:
    """One markdown sentence for a report: the discordant counts say more than the two accuracies alone."""
    p = "p < 0.001" if test.p_value < 0.001 else f"p = {test.p_value:.3f}"
    verdict = "is" if test.p_value < SIGNIFICANCE_LEVEL else "is not"
    return (
        f"On the same {test.n:,} test reviews, {name_a} is right on {test.only_a_right:,} that {name_b} gets wrong "
        f"and wrong on {test.only_b_right:,} that {name_b} gets right: accuracy difference {test.difference:+.4f} "
        f"({test.confidence * 100:g} % interval {test.ci_low:+.4f} to {test.ci_high:+.4f}), McNemar's exact test "
        f"{p}. The difference {verdict} significant at the {SIGNIFICANCE_LEVEL:g} level."
    )
