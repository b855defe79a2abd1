"""Selection logic: ranking, ties, single seed, retrain epochs, and the reports compare writes."""

from __future__ import annotations

import json

import pytest

from imdb_sentiment.compare.figures import study_figures
from imdb_sentiment.compare.ranking import VariantResult, choose, load_results, rank, retrain_epochs
from imdb_sentiment.compare.summary import summary_markdown, summary_rows
from imdb_sentiment.config.schema import SelectionMetric
from imdb_sentiment.model.summaries import aggregate, within_chance
from imdb_sentiment.runtime.errors import DataError


def variant(
    name: str,
    accuracies: list[float],
    losses: list[float],
    best_epochs: list[int],
    learned: bool = True,
    loss_function: str = "mse",
) -> VariantResult:
    """A variant as the train stage's ``seeds.json`` describes it; ``losses`` are its cross-entropies, and its
    own training loss is twice them."""
    seeds = {
        str(i): {
            "best_val_accuracy": a,
            "best_val_bce": loss,
            "best_val_loss": 2 * loss,
            "best_epoch": e,
            "epochs_run": e + 3,
            "train_seconds": 1.0,
        }
        for i, (a, loss, e) in enumerate(zip(accuracies, losses, best_epochs, strict=True))
    }
    seed_runs = {"variant": name, "loss_function": loss_function, "seeds": seeds}
    histories = {
        i: {
            "val_loss": [0.5, 0.4, 0.45][:e],
            "val_accuracy": [0.8, 0.85, 0.84][:e],
            "val_bce": [0.6, 0.5, 0.55][:e],
            "loss": [0.5, 0.4, 0.3][:e],
            "accuracy": [0.7, 0.8, 0.9][:e],
            "bce": [0.6, 0.5, 0.4][:e],
        }
        for i, e in enumerate([3] * len(accuracies))
    }
    return VariantResult(name, seed_runs, histories, learned)


def test_highest_mean_accuracy_wins_and_epochs_are_the_median_best_epoch():
    results = [
        variant("a", [0.85, 0.86, 0.87], [0.2, 0.2, 0.2], [3, 4, 9]),
        variant("b", [0.88, 0.89, 0.88], [0.3, 0.3, 0.3], [5, 7, 8]),
    ]
    choice = choose(results, SelectionMetric.best_val_accuracy)
    assert choice.variant == "b" and choice.epochs == 7 and choice.runner_up == "a"
    assert choice.lead == pytest.approx(0.8833333 - 0.86, abs=1e-6) and choice.lead_exceeds_spread is True
    assert (
        "b has the highest mean best_val_accuracy" in choice.reason
        and "(5, 7, 8: each seed's best by trainer.monitor" in choice.reason
    )
    assert "(0.0100, the larger standard deviation of the two, 2.3×)." in choice.reason


def test_ties_go_to_the_lower_best_val_bce():
    results = [variant("a", [0.88, 0.88], [0.30, 0.30], [4, 4]), variant("b", [0.88, 0.88], [0.25, 0.25], [6, 6])]
    choice = choose(results, SelectionMetric.best_val_accuracy)
    assert choice.variant == "b" and choice.lead == 0
    assert "ties with a" in choice.reason and choice.lead_exceeds_spread is False


def test_single_seed_cannot_judge_the_lead():
    results = [variant("a", [0.86], [0.3], [2]), variant("b", [0.87], [0.3], [5])]
    choice = choose(results, SelectionMetric.best_val_accuracy)
    assert choice.variant == "b" and choice.epochs == 5 and choice.lead_exceeds_spread is None
    assert "cannot be judged" in choice.reason


def test_small_lead_within_seed_noise_is_reported():
    results = [variant("a", [0.86, 0.88], [0.3, 0.3], [2, 2]), variant("b", [0.87, 0.875], [0.3, 0.3], [5, 5])]
    choice = choose(results, SelectionMetric.best_val_accuracy)
    assert choice.variant == "b" and choice.lead_exceeds_spread is False
    assert "may not hold" in choice.reason


def test_loss_metric_ranks_lowest_first_and_even_seed_medians_round_up():
    results = [variant("a", [0.9, 0.9], [0.2, 0.2], [4, 5]), variant("b", [0.8, 0.8], [0.1, 0.1], [2, 3])]
    assert [r.variant for r in rank(results, SelectionMetric.best_val_loss)] == ["b", "a"]
    assert [r.variant for r in rank(results, SelectionMetric.best_val_bce)] == ["b", "a"]
    assert retrain_epochs(results[0]) == 5


def test_training_losses_of_different_functions_are_never_ranked_against_each_other():
    """The linear baseline trains on cross-entropy, the networks on MSE: their own losses are not one scale."""
    results = [
        variant("linear", [0.89, 0.89], [0.30, 0.30], [4, 4], loss_function="binary_crossentropy"),
        variant("base_1layer", [0.88, 0.88], [0.32, 0.32], [3, 3]),
    ]
    with pytest.raises(DataError, match=r"best_val_loss compares different loss functions \(linear: binary_cro"):
        choose(results, SelectionMetric.best_val_loss)
    assert choose(results, SelectionMetric.best_val_bce).variant == "linear"
    rows = summary_rows(rank(results, SelectionMetric.best_val_bce))
    markdown = summary_markdown(rows, choose(results, SelectionMetric.best_val_bce), "`multihot`")
    assert "| val accuracy | val cross-entropy (all variants) | val training loss (its function) |" in markdown
    assert "| linear | 2 | 0.8900 ± 0.0000 | 0.3000 ± 0.0000 | 0.6000 ± 0.0000 (cross-entropy) |" in markdown
    assert "| base_1layer | 2 | 0.8800 ± 0.0000 | 0.3200 ± 0.0000 | 0.6400 ± 0.0000 (MSE) |" in markdown


def test_reports_and_figures(tmp_path):
    results = [
        variant("l1_3layer", [0.5, 0.5], [0.25, 0.25], [1, 1], learned=False),
        variant("l2_3layer", [0.88, 0.87], [0.17, 0.18], [3, 3]),
    ]
    choice = choose(results, SelectionMetric.best_val_accuracy)
    rows = summary_rows(rank(results, SelectionMetric.best_val_accuracy))
    assert [row["variant"] for row in rows] == ["l2_3layer", "l1_3layer"]
    markdown = summary_markdown(rows, choice, "`multihot` (10,000 words)")
    assert "| l2_3layer | 2 | 0.8750 ± 0.0071 |" in markdown and "**Chosen: l2_3layer, 3 epochs.**" in markdown
    assert "| l1_3layer (did not learn: chance) | 2 |" in markdown and rows[1]["learned"] is False
    figures = study_figures(results, ["l1_3layer", "l2_3layer"])
    assert set(figures) == {
        "train_val_loss.png",
        "train_val_accuracy.png",
        "val_bce_all.png",
        "val_accuracy_all.png",
        "pair_val_bce.png",
        "pair_val_accuracy.png",
    }
    assert len(figures["train_val_loss.png"].axes) == 2  # one panel per variant
    assert [a.get_yscale() for a in figures["train_val_loss.png"].axes] == ["log", "log"]
    assert len(figures["val_accuracy_all.png"].axes) == 2  # all, and without l1_3layer, which did not learn
    legend = [text.get_text() for text in figures["pair_val_bce.png"].axes[0].get_legend().get_texts()]
    assert legend == ["l1_3layer (did not learn: chance)", "l2_3layer"]  # the notebook's L1-vs-L2, honestly
    assert [line.get_label() for line in figures["val_accuracy_all.png"].axes[1].get_lines()][:1] == ["l2_3layer"]
    for name, figure in figures.items():
        figure.savefig(tmp_path / name, dpi=40)
        assert (tmp_path / name).stat().st_size > 0


def test_a_variant_that_did_not_learn_is_ranked_last_and_never_chosen_whatever_its_numbers():
    """On MSE a one-class model can show the lowest loss: it must not win on it."""
    results = [
        variant("stuck", [0.4947, 0.4947], [0.01, 0.01], [2, 2], learned=False),
        variant("real", [0.86, 0.87], [0.3, 0.3], [4, 4]),
    ]
    for metric in SelectionMetric:
        assert [r.variant for r in rank(results, metric)] == ["real", "stuck"]
        choice = choose(results, metric)
        assert choice.variant == "real" and choice.runner_up is None and choice.did_not_learn == ["stuck"]
        assert "Not considered: stuck, which did not learn (chance accuracy)." in choice.reason
    with pytest.raises(DataError, match="no variant learned: stuck"):
        choose(results[:1], SelectionMetric.best_val_accuracy)


def test_learning_is_judged_on_every_epoch_of_every_seed(tmp_path):
    assert within_chance([[0.4947] * 8, [0.5053, 0.4947]], 0.05)
    assert not within_chance([[0.4947] * 8, [0.5053, 0.56]], 0.05)  # one epoch of one seed left the band
    assert not within_chance([], 0.05)
    folder = tmp_path / "stuck"
    (folder / "history").mkdir(parents=True)
    (folder / "seeds.json").write_text(json.dumps(variant("stuck", [0.49], [0.2], [1]).seed_runs))
    (folder / "history/seed_0.csv").write_text("epoch,val_accuracy,val_loss\n1,0.4947,0.25\n2,0.4947,0.25\n")
    assert load_results(tmp_path, ["stuck"], 0.05)[0].learned is False
    assert load_results(tmp_path, ["stuck"], 0.001)[0].learned is True


def test_missing_variant_names_the_stage(tmp_path):
    with pytest.raises(DataError, match=r"dvc repro train@base_1layer"):
        load_results(tmp_path, ["base_1layer"], 0.05)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "seeds.json").write_text(json.dumps(variant("x", [0.8], [0.2], [1]).seed_runs))
    loaded = load_results(tmp_path, ["x"], 0.05)[0]
    assert loaded.variant == "x" and loaded.seeds == 1 and loaded.loss_function == "mse"


def test_seeds_are_read_in_seed_order_and_summarized_as_the_train_stage_does():
    """JSON keys sort "10" before "2"; the mean and spread are summaries.aggregate's."""
    result = variant("a", [0.80 + i / 100 for i in range(11)], [0.3] * 11, list(range(1, 12)))
    result.seed_runs["seeds"] = dict(sorted(result.seed_runs["seeds"].items()))
    assert result.per_seed("best_epoch") == [float(e) for e in range(1, 12)]
    stats = aggregate([{"x": v} for v in result.per_seed("best_val_accuracy")])
    assert (
        result.mean("best_val_accuracy") == stats["x"]["mean"] and result.std("best_val_accuracy") == stats["x"]["std"]
    )
