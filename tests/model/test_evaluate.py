"""Test-set metrics: accuracy, precision, recall, F1, ROC AUC and the loss, against their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from imdb_sentiment.config.schema import Loss
from imdb_sentiment.model.evaluate import binary_metrics, roc_auc, roc_curve


def test_metrics_on_a_known_example():
    y = np.array([1, 1, 0, 0, 1, 0], dtype=np.float32)
    prob = np.array([0.9, 0.4, 0.6, 0.1, 0.8, 0.3], dtype=np.float32)
    metrics = binary_metrics(y, prob, 0.5, Loss.mse)
    # predicted 1,0,1,0,1,0: TP 2, FN 1, FP 1, TN 2
    assert metrics["test_accuracy"] == pytest.approx(4 / 6)
    assert metrics["test_precision"] == pytest.approx(2 / 3) and metrics["test_recall"] == pytest.approx(2 / 3)
    assert metrics["test_f1"] == pytest.approx(2 / 3)
    assert metrics["test_roc_auc"] == pytest.approx(8 / 9)  # 8 of 9 positive-negative pairs ordered right
    assert metrics["test_loss"] == pytest.approx(np.mean((prob - y) ** 2))
    bce = binary_metrics(y, prob, 0.5, Loss.binary_crossentropy)["test_loss"]
    assert bce == pytest.approx(-np.mean(y * np.log(prob) + (1 - y) * np.log(1 - prob)), rel=1e-5)


def test_auc_counts_ties_as_half_and_roc_curve_spans_the_square():
    y = np.array([1, 0, 1, 0])
    prob = np.array([0.5, 0.5, 0.9, 0.1])
    assert roc_auc(y, prob) == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    fpr, tpr = roc_curve(y, prob)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_metrics_match_their_definitions_on_random_scores_and_are_zero_or_nan_where_undefined():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.4).astype(np.float32)
    prob = np.round(rng.random(300), 2).astype(np.float32)  # rounded: many ties
    metrics = binary_metrics(y, prob, 0.5, Loss.mse)
    positives, negatives = prob[y == 1], prob[y == 0]
    pairs = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    assert metrics["test_roc_auc"] == pytest.approx(pairs.mean(), abs=1e-12)
    precision, recall = metrics["test_precision"], metrics["test_recall"]
    assert metrics["test_f1"] == pytest.approx(2 * precision * recall / (precision + recall), abs=1e-12)
    nothing_predicted = binary_metrics(y, np.zeros_like(prob), 0.5, Loss.mse)
    assert [nothing_predicted[f"test_{name}"] for name in ("precision", "recall", "f1")] == [0, 0, 0]
    assert np.isnan(binary_metrics(np.ones(4), np.full(4, 0.7), 0.5, Loss.mse)["test_roc_auc"])
