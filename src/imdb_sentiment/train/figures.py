"""A seed's training curves as the notebook drew them, without pyplot's global state (safe in long-running
processes)."""

from __future__ import annotations

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
