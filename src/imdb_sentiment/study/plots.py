"""The notebook's figures, drawn without pyplot's global state (safe in long-running processes)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def curve_figure(history: dict[str, list[float]], metric: str, title: str) -> Figure:
    """Training (dots) and validation (line) curves of one metric per epoch, as the notebook drew them."""
    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    axes = figure.subplots()
    epochs = range(1, len(history[metric]) + 1)
    axes.plot(epochs, history[metric], "bo", label=f"Training {metric}")
    if f"val_{metric}" in history:
        axes.plot(epochs, history[f"val_{metric}"], "b", label=f"Validation {metric}")
    axes.set_title(title)
    axes.set_xlabel("Epochs")
    axes.set_ylabel(metric.capitalize())
    axes.legend()
    return figure


def history_figures(history: dict[str, list[float]], label: str) -> dict[str, Figure]:
    """The two plots per model: loss curves and accuracy curves, keyed by artifact file name."""
    return {
        "loss_curves.png": curve_figure(history, "loss", f"{label}: training and validation loss"),
        "accuracy_curves.png": curve_figure(history, "accuracy", f"{label}: training and validation accuracy"),
    }


def confusion_figure(matrix) -> Figure:
    """Counts of [[TN, FP], [FN, TP]] on the test reviews."""
    figure = Figure(figsize=(4.8, 4.2), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        axes.text(
            col, row, f"{count:,}", ha="center", va="center", color="white" if count > matrix.max() / 2 else "black"
        )
    axes.set_xticks([0, 1], ["negative", "positive"])
    axes.set_yticks([0, 1], ["negative", "positive"])
    axes.set_xlabel("Predicted")
    axes.set_ylabel("Actual")
    axes.set_title("Confusion matrix (test)")
    figure.colorbar(image, ax=axes, label="Reviews")
    return figure


def roc_figure(fpr, tpr, auc: float) -> Figure:
    figure = Figure(figsize=(5, 5), layout="constrained")
    axes = figure.subplots()
    axes.plot(fpr, tpr, label=f"ROC (AUC {auc:.4f})")
    axes.plot([0, 1], [0, 1], "k--", linewidth=0.8, label="chance")
    axes.set_xlabel("False positive rate")
    axes.set_ylabel("True positive rate")
    axes.set_title("ROC curve (test)")
    axes.legend(loc="lower right")
    return figure
