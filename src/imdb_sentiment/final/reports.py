"""The final stage's small reports, split by who reads them: numbers for DVC, words and ids for people.

``metrics.json`` holds only numbers, so ``dvc metrics show``/``diff`` and ``dvc exp show`` stay a few readable
columns; ``run.json`` says what was retrained on what (variant, protocol, features) in words; ``roc.csv`` is the
data of the DVC ROC plot. All three are small and committed to git (``cache: false`` in ``dvc.yaml``); the run's
ids in the MLflow store go beside the model (:mod:`imdb_sentiment.tracking.records`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imdb_sentiment.model.evaluate import roc_csv
from imdb_sentiment.runtime.outputs import write_json, write_text

METRIC_KEYS = (
    "test_accuracy",
    "test_bce",
    "test_f1",
    "test_loss",
    "test_precision",
    "test_recall",
    "test_roc_auc",
    "epochs",
    "train_rows",
    "train_seconds",
)


def final_metrics(metrics: dict) -> dict[str, float]:
    """The test scores and the training's size and time, and nothing that is not a number."""
    return {key: metrics[key] for key in METRIC_KEYS}


def write_final_reports(reports_dir: Path, metrics: dict, run: dict, y: np.ndarray, prob: np.ndarray) -> None:
    """``metrics.json`` (numbers), ``run.json`` (variant, protocol, features) and ``roc.csv``."""
    write_json(reports_dir / "metrics.json", final_metrics(metrics))
    write_json(reports_dir / "run.json", run)
    write_text(reports_dir / "roc.csv", roc_csv(y, prob))
