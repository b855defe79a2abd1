"""A seed's summary takes every value at its best epoch; a variant's is the mean and spread over seeds."""

from __future__ import annotations

import numpy as np
import pytest

from imdb_sentiment.config import Monitor
from imdb_sentiment.summaries import aggregate, summarize


def test_summaries_take_every_value_at_the_best_epoch_of_the_monitor_and_aggregate_across_seeds():
    history = {"val_loss": [0.5, 0.3, 0.4, 0.3], "val_accuracy": [0.6, 0.7, 0.9, 0.8]}
    assert summarize(history, Monitor.val_loss, 1.5) == {
        "best_val_accuracy": 0.7,
        "best_val_loss": 0.3,
        "best_epoch": 2,
        "epochs_run": 4,
        "train_seconds": 1.5,
    }
    assert summarize(history, Monitor.val_accuracy, 1.5) == {
        "best_val_accuracy": 0.9,
        "best_val_loss": 0.4,
        "best_epoch": 3,
        "epochs_run": 4,
        "train_seconds": 1.5,
    }
    stats = aggregate([{"x": 1.0}, {"x": 3.0}])
    assert stats["x"] == {"mean": 2.0, "std": pytest.approx(np.sqrt(2))}
    assert aggregate([{"x": 1.0}])["x"] == {"mean": 1.0, "std": 0.0}
