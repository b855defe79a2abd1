"""A trained model's probabilities and scores on held-out reviews: the metrics the final model is registered with,
and the ones its baselines are read against.

Classification metrics come from :mod:`sklearn.metrics`; only :func:`test_loss` is computed here, because it
must equal the loss Keras reports, which clips probabilities to ``[1e-7, 1 - 1e-7]`` for cross-entropy.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import scipy.sparse as sp
from sklearn import metrics

from imdb_sentiment.config.schema import Loss

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): how far from 0 and 1 Keras clips probabilities in its BCE
PREDICT_ROWS = 512  # rows densified at a time: 512 x 10,000 float32 is 20 MB


def predict_proba(model, x: sp.csr_matrix, rows: int = PREDICT_ROWS) -> np.ndarray:
    """Positive-class probabilities, densifying a bounded number of rows at a time."""
    out = np.empty(x.shape[0], dtype=np.float32)
    for start in range(0, x.shape[0], rows):
        chunk = x[start : start + rows].toarray()
        out[start : start + rows] = np.asarray(model.predict_on_batch(chunk)).reshape(-1)  # NumPy on any backend
    return out


def roc_auc(y: np.ndarray, prob: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half); NaN, without a warning, when one class is absent."""
    if np.all(y == 1) or np.all(y != 1):
        return float("nan")
    return float(metrics.roc_auc_score(y, prob))


def roc_curve(y: np.ndarray, prob: np.ndarray, drop_intermediate: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold, from (0, 0) to (1, 1); ``drop_intermediate``
    leaves out the points on straight runs of the curve (the same curve, far fewer rows)."""
    fpr, tpr, _ = metrics.roc_curve(y, prob, drop_intermediate=drop_intermediate)
    return fpr, tpr


def test_loss(y: np.ndarray, prob: np.ndarray, loss: Loss) -> float:
    """The model's own training loss on the test set (Keras clips probabilities the same way for BCE)."""
    if loss is Loss.mse:
        return float(np.mean((prob - y) ** 2))
    p = np.clip(prob, KERAS_EPSILON, 1 - KERAS_EPSILON)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def binary_metrics(y: np.ndarray, prob: np.ndarray, threshold: float, loss: Loss) -> dict[str, float]:
    """Loss, accuracy, precision, recall, F1 (0 where undefined) and ROC AUC, under the ``test_`` names."""
    y = y.astype(np.int64)
    predicted = (prob >= threshold).astype(np.int64)
    return {
        "test_loss": test_loss(y, prob, loss),
        "test_bce": test_loss(y, prob, Loss.binary_crossentropy),  # the yardstick every variant shares
        "test_accuracy": float(metrics.accuracy_score(y, predicted)),
        "test_precision": float(metrics.precision_score(y, predicted, zero_division=0.0)),
        "test_recall": float(metrics.recall_score(y, predicted, zero_division=0.0)),
        "test_f1": float(metrics.f1_score(y, predicted, zero_division=0.0)),
        "test_roc_auc": roc_auc(y, prob),
    }


def predictions_csv(y: np.ndarray, prob: np.ndarray, threshold: float) -> str:
    """One row per test review: its index, the true label, the label predicted at ``threshold`` and the
    probability (6 decimals); ``actual`` and ``predicted`` are what DVC's confusion-matrix plot counts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "actual", "predicted", "probability"])
    rows = zip(y.astype(int), prob, strict=True)
    writer.writerows((i, actual, int(p >= threshold), f"{p:.6f}") for i, (actual, p) in enumerate(rows))
    return buffer.getvalue()


def roc_csv(y: np.ndarray, prob: np.ndarray) -> str:
    """The ROC curve's corners as ``fpr,tpr`` rows (6 decimals), the data of DVC's ROC plot."""
    fpr, tpr = roc_curve(y.astype(int), prob, drop_intermediate=True)
    lines = ["fpr,tpr", *(f"{f:.6f},{t:.6f}" for f, t in zip(fpr, tpr, strict=True))]
    return "\n".join(lines) + "\n"
