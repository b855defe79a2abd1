"""Retrain the chosen variant, score it on the test reviews, and register it (the alias moves on merit)."""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from imdb_sentiment.config import Config, Loss, TrainOn
from imdb_sentiment.errors import DataError
from imdb_sentiment.io import atomic_dir, write_json, write_text

log = logging.getLogger(__name__)

def read_choice(reports_dir: Path) -> dict:
    path = reports_dir / "compare" / "best.json"
    if not path.is_file():
        raise DataError(f"{path} is missing: run the compare stage first (dvc repro compare)")
    return json.loads(path.read_text())


def winner_overrides(task_overrides: list[str], variant: str) -> list[str]:
    """The user's command-line overrides, with the model group set to the chosen variant."""
    return [o for o in task_overrides if o.split("=", 1)[0].lstrip("+~") != "model"] + [f"model={variant}"]


# ------------------------------------------------------------------------------------------- evaluation


def roc_auc(y: np.ndarray, prob: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic (ties count one half)."""
    positives = y == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(prob)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(y: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-prob, kind="stable")
    y_sorted, p_sorted = y[order], prob[order]
    last_of_threshold = np.r_[np.nonzero(np.diff(p_sorted))[0], len(p_sorted) - 1]
    tps = np.cumsum(y_sorted)[last_of_threshold]
    fps = (last_of_threshold + 1) - tps
    return np.r_[0.0, fps / max(fps[-1], 1)], np.r_[0.0, tps / max(tps[-1], 1)]


def confusion(y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """[[TN, FP], [FN, TP]]."""
    return np.array([[np.sum((y == 0) & (predicted == 0)), np.sum((y == 0) & (predicted == 1))],
                     [np.sum((y == 1) & (predicted == 0)), np.sum((y == 1) & (predicted == 1))]])


def test_loss(y: np.ndarray, prob: np.ndarray, loss: Loss) -> float:
    """The model's own training loss on the test set (Keras clips probabilities the same way for BCE)."""
    if loss is Loss.mse:
        return float(np.mean((prob - y) ** 2))
    p = np.clip(prob, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def binary_metrics(y: np.ndarray, prob: np.ndarray, threshold: float, loss: Loss) -> dict[str, float]:
    y = y.astype(np.int64)
    predicted = (prob >= threshold).astype(np.int64)
    (tn, fp), (fn, tp) = confusion(y, predicted)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"test_loss": test_loss(y, prob, loss), "test_accuracy": float((predicted == y).mean()),
            "test_precision": float(precision), "test_recall": float(recall), "test_f1": float(f1),
            "test_roc_auc": roc_auc(y, prob)}


def predictions_csv(prob: np.ndarray, threshold: float) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "probability", "label"])
    writer.writerows((i, f"{p:.6f}", int(p >= threshold)) for i, p in enumerate(prob))
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------- registry


def architecture_diagram(model, path: Path) -> str | None:
    """``keras.utils.plot_model`` needs pydot and Graphviz's ``dot``; without them, say so and go on."""
    import keras

    try:
        keras.utils.plot_model(model, to_file=str(path), show_shapes=True, show_layer_names=True)
    except (ImportError, OSError, FileNotFoundError, RuntimeError) as exc:
        message = f"no architecture diagram: {exc} (install Graphviz, e.g. apt-get install graphviz)"
        log.warning(message)
        return message
    return None


# ------------------------------------------------------------------------------------------------ stage


def retrain_final(cfg: Config, choice: dict) -> dict:
    """The retrain_final stage: train from scratch, evaluate on test, save, log, register, promote."""
    import keras
    import mlflow

    from imdb_sentiment.experiment import INPUT_EXAMPLE_ROWS, load_configured_features, log_dataset
    from imdb_sentiment.models import model_summary
    from imdb_sentiment.plots import confusion_figure, roc_figure
    from imdb_sentiment.predict import predict_proba
    from imdb_sentiment.config import flatten
    from imdb_sentiment.model_logging import log_keras_model
    from imdb_sentiment.registry import log_text_model, promote
    from imdb_sentiment.run_workers import epoch_metric_writer
    from imdb_sentiment.runs import lineage_tags, log_params, tracked_run
    from imdb_sentiment.tracking_store import setup_tracking
    from imdb_sentiment.training import CsrRows, history_csv, train_seed

    keras.utils.disable_interactive_logging()
    if choice["variant"] != cfg.model.name:
        raise DataError(f"best.json chose {choice['variant']} but the config composed {cfg.model.name}")
    features = load_configured_features(cfg, splits=("train", "test"))
    train = CsrRows.from_csr(*(features.partial_train if cfg.final.train_on is TrainOn.partial
                               else features.full_train))
    (x_test, y_test), manifest = features.test, features.manifest
    del features  # TensorFlow holds the training rows now (as in train_variant)
    epochs = int(choice["epochs"])
    setup_tracking(cfg.tracking)
    reports = Path(cfg.paths.reports_dir) / "final"
    tags = {**lineage_tags("retrain_final", cfg.model.name), "chosen_by": "compare"}
    with tracked_run(f"final-{cfg.model.name}", tags) as run:
        log_params({**flatten(cfg), "final.epochs": epochs, "final.train_rows": train.rows})
        log_dataset(cfg, manifest, "training")
        with epoch_metric_writer(run.info.run_id) as log_epoch:
            result = train_seed(cfg.model, cfg.trainer, cfg.final.seed, train, None,
                                on_epoch_end=log_epoch, epochs=epochs)
        prob = predict_proba(result.model, x_test)
        metrics = binary_metrics(y_test, prob, cfg.final.threshold, cfg.model.loss)
        metrics.update(epochs=epochs, train_rows=train.rows, train_seconds=result.summary["train_seconds"])
        mlflow.log_metrics(metrics)
        with atomic_dir(Path(cfg.paths.models_dir) / "final") as model_tmp, \
                tempfile.TemporaryDirectory() as scratch:
            result.model.save(model_tmp / "model.keras")
            with atomic_dir(reports / "plots") as plots_tmp:
                matrix = confusion(y_test.astype(int), (prob >= cfg.final.threshold).astype(int))
                confusion_figure(matrix).savefig(plots_tmp / "confusion_matrix.png", dpi=100)
                fpr, tpr = roc_curve(y_test.astype(int), prob)
                roc_figure(fpr, tpr, metrics["test_roc_auc"]).savefig(plots_tmp / "roc_curve.png", dpi=100)
                diagram_note = architecture_diagram(result.model, plots_tmp / "architecture.png")
            write_text(reports / "model_summary.txt", model_summary(result.model))
            write_text(reports / "predictions.csv", predictions_csv(prob, cfg.final.threshold))
            write_text(reports / "history.csv", history_csv(result.history))
            mlflow.log_artifacts(str(reports / "plots"), "plots")
            for name in ("model_summary.txt", "history.csv"):
                mlflow.log_artifact(str(reports / name))
            example = x_test[:INPUT_EXAMPLE_ROWS].toarray()
            keras_info = log_keras_model(result.model, manifest.num_words, example,
                                         registered_model_name=cfg.final.registered_model_name)
            text_info = log_text_model(model_tmp / "model.keras", Path(cfg.paths.raw_dir) / cfg.data.word_index_file,
                                       cfg, Path(scratch))
        client = mlflow.MlflowClient()
        promoted, message = promote(client, cfg.final.registered_model_name, keras_info.registered_model_version,
                                    metrics["test_accuracy"], cfg.final.alias)
        if promoted:  # the text model follows the Keras model it wraps
            client.set_model_version_tag(cfg.final.text_model_name, text_info.registered_model_version,
                                         "test_accuracy", f"{metrics['test_accuracy']:.6f}")
            client.set_registered_model_alias(cfg.final.text_model_name, cfg.final.alias,
                                              text_info.registered_model_version)
        log.info(message)
        mlflow.set_tags({"registry": message, "promoted": str(promoted)})
    report = {**metrics, "variant": cfg.model.name, "train_on": cfg.final.train_on.value, "run_id": run.info.run_id,
              "registered_version": keras_info.registered_model_version, "promoted": promoted, "registry": message}
    if diagram_note:
        report["architecture_diagram"] = diagram_note
    write_json(reports / "metrics.json", report)
    return report
