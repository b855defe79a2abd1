"""The baselines stage: the models the final one is read against, retrained and scored on the same test reviews.

- **The protocol** (``final.train_on``): the winner retrained under the other one too (15,000 rows or all
  25,000), with the same seed and epochs, so the results page shows both numbers, not one and a guess.
- **The notebook's own answer** (``final.notebook_variant`` for ``final.notebook_epochs``, the notebook's
  3-layer L2 model for 8 epochs), under our protocol and seed.

It reads only compare's choice and the features, not the final stage's outputs, so the two retraining stages
run side by side; the side_by_side stage then pairs the predictions. Neither model is saved or registered:
they are measurements, kept in ``reports/baselines/`` and this stage's MLflow run.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import keras
import mlflow
import numpy as np

from imdb_sentiment.baselines.paired import PREDICTIONS, other_protocol
from imdb_sentiment.config.schema import Config
from imdb_sentiment.data.features import load_configured_features
from imdb_sentiment.model.batches import CsrRows
from imdb_sentiment.model.evaluate import binary_metrics, predict_proba
from imdb_sentiment.model.training import train_seed
from imdb_sentiment.runtime.errors import DataError
from imdb_sentiment.runtime.outputs import write_json, write_text
from imdb_sentiment.tracking.lineage import lineage_tags
from imdb_sentiment.tracking.runs import tracked_run
from imdb_sentiment.tracking.store import setup_tracking


def test_probabilities(cfg: Config, rows: CsrRows, epochs: int, x_test) -> np.ndarray:
    """Train ``cfg.model`` with ``final.seed`` for ``epochs`` on ``rows``; its test probabilities."""
    result = train_seed(cfg.model, cfg.trainer, cfg.final.seed, rows, None, epochs=epochs)
    return predict_proba(result.model, x_test)


def predictions_table(y: np.ndarray, predicted: dict[str, np.ndarray]) -> str:
    """One row per test review: its index, the true label and each baseline's predicted label."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "actual", *predicted])
    writer.writerows([i, int(label), *(int(p[i]) for p in predicted.values())] for i, label in enumerate(y))
    return buffer.getvalue()


def retrain_baselines(winner: Config, notebook: Config, choice: dict) -> dict:
    """Retrain both baselines, score them with the final model's metric function, write their predictions."""
    keras.utils.disable_interactive_logging()
    if choice["variant"] != winner.model.name:
        raise DataError(f"best.json chose {choice['variant']} but the config composed {winner.model.name}")
    features = load_configured_features(winner, splits=("train", "test"))
    protocol, other, epochs = winner.final.train_on, other_protocol(winner.final.train_on), int(choice["epochs"])
    x_test, y_test = features.test
    runs = {  # name -> (config, training protocol, epochs)
        f"{winner.model.name}_{other.value}": (winner, other, epochs),
        f"notebook_{notebook.model.name}": (notebook, protocol, winner.final.notebook_epochs),
    }
    setup_tracking(winner.tracking)
    metrics, predicted = {}, {}
    with tracked_run(f"baselines-{winner.model.name}", lineage_tags("baselines", winner.model.name)):
        for name, (cfg, train_on, n_epochs) in runs.items():
            rows = CsrRows.from_csr(*features.training_rows(train_on), features.column_scale(train_on))
            prob = test_probabilities(cfg, rows, n_epochs, x_test)
            predicted[name] = (prob >= winner.final.threshold).astype(int)
            score = binary_metrics(y_test, prob, winner.final.threshold, cfg.model.loss)["test_accuracy"]
            metrics.update(
                {f"{name}_test_accuracy": score, f"{name}_train_rows": rows.rows, f"{name}_epochs": n_epochs}
            )
        mlflow.log_metrics(metrics)
    reports = Path(winner.paths.baselines_reports)
    write_text(reports / PREDICTIONS, predictions_table(y_test, predicted))
    write_json(reports / "metrics.json", metrics)
    return metrics
