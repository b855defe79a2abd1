"""A seed's summary takes every value at its best epoch; a variant's is the mean and spread over seeds."""

from __future__ import annotations

import numpy as np
import pytest

from imdb_sentiment.config.schema import Monitor
from imdb_sentiment.model.summaries import (
    aggregate,
    epoch_stats,
    mean_history,
    spread_history,
    summarize,
    tracked_names,
    variant_metrics,
)


def test_summaries_take_every_value_at_the_best_epoch_of_the_monitor_and_aggregate_across_seeds():
    history = {
        "val_loss": [0.5, 0.3, 0.4, 0.3],
        "val_accuracy": [0.6, 0.7, 0.9, 0.8],
        "val_bce": [0.7, 0.6, 0.5, 0.55],
    }
    assert summarize(history, Monitor.val_loss, 1.5) == {
        "best_val_accuracy": 0.7,
        "best_val_bce": 0.6,
        "best_val_loss": 0.3,
        "best_epoch": 2,
        "epochs_run": 4,
        "train_seconds": 1.5,
    }
    assert summarize(history, Monitor.val_bce, 1.5)["best_epoch"] == 3
    assert summarize(history, Monitor.val_accuracy, 1.5) == {
        "best_val_accuracy": 0.9,
        "best_val_bce": 0.5,
        "best_val_loss": 0.4,
        "best_epoch": 3,
        "epochs_run": 4,
        "train_seconds": 1.5,
    }
    stats = aggregate([{"x": 1.0}, {"x": 3.0}])
    assert stats["x"] == {"mean": 2.0, "std": pytest.approx(np.sqrt(2))}
    assert aggregate([{"x": 1.0}])["x"] == {"mean": 1.0, "std": 0.0}


def test_a_variants_metrics_are_a_few_flat_numbers_the_agreed_names_and_nothing_else():
    seeds = [
        {"best_val_accuracy": 0.8, "best_val_loss": 0.3, "best_epoch": 2, "epochs_run": 5, "train_seconds": 1.0},
        {"best_val_accuracy": 0.9, "best_val_loss": 0.1, "best_epoch": 4, "epochs_run": 7, "train_seconds": 3.0},
    ]
    seeds = [{**s, "best_val_bce": 2 * s["best_val_loss"]} for s in seeds]
    seeds = [{**s, "saved_val_accuracy": s["best_val_accuracy"], "saved_val_loss": s["best_val_loss"]} for s in seeds]
    metrics = variant_metrics(seeds)
    assert metrics == {
        "best_val_accuracy": pytest.approx(0.85),
        "best_val_accuracy_std": pytest.approx(np.std([0.8, 0.9], ddof=1)),
        "best_val_bce": pytest.approx(0.4),
        "best_val_bce_std": pytest.approx(np.std([0.6, 0.2], ddof=1)),
        "best_val_loss": pytest.approx(0.2),
        "best_val_loss_std": pytest.approx(np.std([0.3, 0.1], ddof=1)),
        "best_epoch": 3.0,
        "epochs_run": 6.0,
        "train_seconds": 2.0,
        "seeds": 2,
    }
    assert all(type(value) in (int, float) for value in metrics.values())


def test_the_mean_history_averages_each_epoch_over_the_seeds_that_ran_it():
    short = {"loss": [1.0, 0.5], "val_loss": [2.0, 1.0]}
    long = {"loss": [3.0, 1.5, 0.9], "val_loss": [4.0, 2.0, 1.2]}
    assert mean_history([short, long]) == {"loss": [2.0, 1.0, 0.9], "val_loss": [3.0, 1.5, 1.2]}


def test_spread_history_is_the_sample_std_of_the_seeds_that_ran_each_epoch():
    short = {"val_bce": [1.0, 0.5]}
    long = {"val_bce": [3.0, 1.5, 0.9]}
    assert spread_history([short, long]) == {"val_bce": [pytest.approx(2**0.5), pytest.approx(0.5**0.5), None]}


def test_epoch_stats_use_the_seeds_that_reached_each_epoch():
    mean, std, counts = epoch_stats([{"val_loss": [1.0, 2.0, 3.0]}, {"val_loss": [3.0, 4.0]}], "val_loss")
    assert list(counts) == [2, 2, 1] and list(mean) == [2.0, 3.0, 3.0]
    assert std[:2] == pytest.approx([2**0.5, 2**0.5]) and np.isnan(std[2])  # one seed: no band


def test_tracked_names_label_every_loss_with_its_function_and_prefix_training_metrics():
    """MLflow's chart view overlays runs by metric name: MSE and cross-entropy never share one."""
    epoch = {"loss": 0.1, "accuracy": 0.9, "bce": 0.3, "val_loss": 0.2, "val_accuracy": 0.8, "val_bce": 0.4}
    assert tracked_names(epoch, "mse", train_prefix=True) == {
        "train_loss_mse": 0.1,
        "train_accuracy": 0.9,
        "train_bce": 0.3,
        "val_loss_mse": 0.2,
        "val_accuracy": 0.8,
        "val_bce": 0.4,
    }
    summary = {"best_val_loss": 0.2, "best_val_loss_std": 0.01, "saved_val_loss": 0.2, "train_seconds": 3.0}
    assert tracked_names(summary, "binary_crossentropy") == {
        "best_val_loss_bce": 0.2,
        "best_val_loss_bce_std": 0.01,
        "saved_val_loss_bce": 0.2,
        "train_seconds": 3.0,
    }
