"""A seed's numbers and a variant's: the best-epoch summary, the mean and spread over seeds, the history CSV.

Plain numbers in, plain numbers out, without TensorFlow: the rule for "best" is defined once here, and the
stages that only read results (compare) need nothing of the training stack.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np

from imdb_sentiment.config.schema import Loss, Monitor

# Per epoch: the variant's own training loss (``loss``: MSE or binary cross-entropy, as configured), and the
# yardstick every variant shares whatever it trains on: accuracy and binary cross-entropy (``bce``).
HISTORY_KEYS = ("loss", "accuracy", "bce", "val_loss", "val_accuracy", "val_bce")
METRIC_MEANS = ("best_val_accuracy", "best_val_bce", "best_val_loss", "best_epoch", "epochs_run", "train_seconds")
METRIC_SPREADS = ("best_val_accuracy", "best_val_bce", "best_val_loss")  # the spreads compare weighs a lead against
TRAINING_KEYS = ("loss", "accuracy", "bce")  # measured on the training batches


def loss_name(loss: Loss | str) -> str:
    """The short name of a training loss function, as labels carry it: ``mse`` or ``bce``."""
    return Loss(loss).short


def tracked_names(metrics: dict[str, float], loss: Loss | str, train_prefix: bool = False) -> dict[str, float]:
    """Metrics under the names MLflow shows: every loss of the variant's own function labelled with it
    (``val_loss`` → ``val_loss_mse``), so the chart view never overlays MSE on cross-entropy under one name;
    with ``train_prefix``, the training-set metrics as ``train_*`` (``accuracy`` → ``train_accuracy``)."""
    named = {}
    for key, value in metrics.items():
        label = re.sub(r"(^|_)loss(?=(_std)?$)", rf"\1loss_{loss_name(loss)}", key)
        named[f"train_{label}" if train_prefix and key.split("_std")[0] in TRAINING_KEYS else label] = value
    return named


def summarize(history: dict[str, list[float]], monitor: Monitor, seconds: float) -> dict[str, float]:
    """A seed's numbers, all taken at its best epoch: the one rule that ties the study together.

    The best epoch is the epoch with the best ``monitor`` (lowest ``val_loss`` or ``val_bce``, or highest
    ``val_accuracy``; the first one on ties), the epoch early stopping keeps (``trainer.restore_best_weights``).
    Its ``val_accuracy``, ``val_bce`` and ``val_loss`` are what compare ranks by, and the median best epoch over
    seeds is the number of epochs retrain_final trains for. Epochs count from 1.
    """
    values = np.asarray(history[monitor.value])
    best = int(np.argmax(values) if monitor.maximized else np.argmin(values))
    return {
        "best_val_accuracy": float(history["val_accuracy"][best]),
        "best_val_bce": float(history["val_bce"][best]),
        "best_val_loss": float(history["val_loss"][best]),
        "best_epoch": best + 1,
        "epochs_run": len(values),
        "train_seconds": seconds,
    }


CHANCE_ACCURACY = 0.5  # balanced binary labels: what predicting one class scores


def within_chance(val_accuracies: list[list[float]], margin: float) -> bool:
    """Whether every epoch of every seed stayed within ``margin`` of chance accuracy: a variant that did not
    learn (it predicts one class), flagged as such and never chosen, whatever its loss says."""
    epochs = [value for seed in val_accuracies for value in seed]
    return bool(epochs) and all(abs(value - CHANCE_ACCURACY) <= margin for value in epochs)


def aggregate(summaries: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation across seeds of each summary metric (std 0 for one seed)."""
    ddof = 1 if len(summaries) > 1 else 0
    return {
        key: {
            "mean": float(np.mean([s[key] for s in summaries])),
            "std": float(np.std([s[key] for s in summaries], ddof=ddof)),
        }
        for key in summaries[0]
    }


def parent_run_metrics(stats: dict[str, dict[str, float]]) -> dict[str, float]:
    """The seeds' mean under the seed runs' own metric names, ``<name>_std`` beside: one column ranks both."""
    return {
        name: value
        for key, values in stats.items()
        for name, value in ((key, values["mean"]), (f"{key}_std", values["std"]))
    }


def variant_metrics(summaries: list[dict[str, float]]) -> dict[str, float]:
    """A variant's DVC metrics: a few flat numbers (means, the two spreads, the seed count), nothing else.

    ``dvc exp show`` and ``dvc metrics diff`` make a column of every key, so each seed's numbers and the run
    ids live in ``seeds.json`` instead; a flat file of numbers also diffs cleanly between commits.
    """
    named = parent_run_metrics(aggregate(summaries))
    metrics = {key: named[key] for key in (*METRIC_MEANS, *(f"{key}_std" for key in METRIC_SPREADS))}
    return {**metrics, "seeds": len(summaries)}


def epoch_stats(histories: list[dict[str, list[float]]], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per epoch: the mean and sample std of ``key`` over the seeds that ran it, and how many did.

    Early stopping ends seeds at different epochs, so each epoch counts only the seeds that reached it; the std
    is NaN where fewer than two did. The one definition behind the MLflow curves, the CSVs and the figures.
    """
    runs = [h.get(key, []) for h in histories]
    table = np.full((len(runs), max(len(r) for r in runs)), np.nan)
    for row, values in enumerate(runs):
        table[row, : len(values)] = values
    counts = np.sum(~np.isnan(table), axis=0)
    mean = np.nansum(table, axis=0) / counts
    squares = np.nansum((table - mean) ** 2, axis=0)
    std = np.where(counts >= 2, np.sqrt(squares / np.maximum(counts - 1, 1)), np.nan)
    return mean, std, counts


def mean_history(histories: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Per epoch, the mean over the seeds that ran it: the one curve per variant that DVC's overlaid plots draw."""
    return {key: epoch_stats(histories, key)[0].tolist() for key in histories[0]}


def spread_history(histories: list[dict[str, list[float]]]) -> dict[str, list[float | None]]:
    """Per epoch, the sample standard deviation over the seeds that ran it; None where fewer than two did."""
    return {
        key: [None if np.isnan(value) else float(value) for value in epoch_stats(histories, key)[1]]
        for key in histories[0]
    }


def history_csv(history: dict[str, list[float]]) -> str:
    """The per-epoch history as CSV with an ``epoch`` column (what DVC plots reads)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = list(history)
    writer.writerow(["epoch", *keys])
    for epoch, values in enumerate(zip(*(history[key] for key in keys), strict=True), start=1):
        writer.writerow([epoch, *(f"{value:.6g}" for value in values)])
    return buffer.getvalue()
