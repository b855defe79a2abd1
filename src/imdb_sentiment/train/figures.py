"""A seed's training curves as the notebook drew them, without pyplot's global state (safe in long-running
processes)."""

from __future__ import annotations

from matplotlib.figure import Figure


def curve_figure(history: dict[str, list[float]], metric: str, title: str, name: str | None = None) -> Figure:
    """Training (dots) and validation (line) curves of one metric per epoch, as the notebook drew them;
    ``name`` labels the metric (a loss with its function)."""
    name = name or metric
    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    axes = figure.subplots()
    epochs = range(1, len(history[metric]) + 1)
    axes.plot(epochs, history[metric], "bo", label=f"Training {name}")
    if f"val_{metric}" in history:
        axes.plot(epochs, history[f"val_{metric}"], "b", label=f"Validation {name}")
    axes.set_title(title)
    axes.set_xlabel("Epochs")
    axes.set_ylabel(name[:1].upper() + name[1:])
    axes.legend()
    return figure


def history_figures(history: dict[str, list[float]], label: str, loss: str) -> dict[str, Figure]:
    """The notebook's two plots per model, loss curves (the loss named with its function) and accuracy curves,
    keyed by artifact file name."""
    named = f"loss ({loss})"
    return {
        "loss_curves.png": curve_figure(history, "loss", f"{label}: training and validation {named}", named),
        "accuracy_curves.png": curve_figure(history, "accuracy", f"{label}: training and validation accuracy"),
    }
