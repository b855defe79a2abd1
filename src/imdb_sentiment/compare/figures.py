"""The study's figures, drawn from every seed's per-epoch history: mean ± std bands over seeds.

Per variant, training against validation loss and accuracy (the notebook's two figures, one panel per variant,
each on its own scale, each loss named with its function); all variants' validation accuracy and cross-entropy
overlaid, the yardstick they share whatever they train on; and the notebook's L1-vs-L2 comparison.
Seeds stop at different epochs (early stopping), so each epoch's mean ± std is over the seeds that reached it,
and a dotted line marks where a seed stopped. A variant that did not learn (chance accuracy) gets panels of its
own scale, or is left out of a zoomed panel, so it does not squash the other curves.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from imdb_sentiment.compare.ranking import VariantResult
from imdb_sentiment.config.schema import loss_words
from imdb_sentiment.model.summaries import epoch_stats

BAND_NOTE = (
    "line: mean over the seeds that reached the epoch, band: ± 1 std\n"
    "dotted: a seed stopped early (past the last one, a single seed)"
)
NAMES = {"val_bce": "Validation cross-entropy", "val_accuracy": "Validation accuracy"}
LOG_SCALE = ("loss", "bce")  # key endings drawn on log axes
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


class PlainLogFormatter(LogFormatter):
    """Log-axis labels as plain numbers (0.2, not 2e-01)."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return f"{x:g}"


def draw_band(axes: Axes, result: VariantResult, key: str, label: str, color: str, marker: str = "") -> None:
    mean, std, _ = epoch_stats(list(result.histories.values()), key)
    epochs = np.arange(1, len(mean) + 1)
    axes.plot(epochs, mean, color=color, marker=marker, markersize=3, label=label)
    low = mean - std
    if key.endswith(LOG_SCALE):  # log axes: keep the band's lower edge positive
        low = np.where(low > 0, low, mean / 10)
    axes.fill_between(epochs, low, mean + std, color=color, alpha=0.2, linewidth=0)


def mark_seed_stops(axes: Axes, result: VariantResult, color: str = "grey") -> None:
    lengths = sorted({len(next(iter(h.values()), [])) for h in result.histories.values()})
    for stop in lengths[:-1]:
        axes.axvline(stop, color=color, linestyle=":", linewidth=1)


def label_axes(axes: Axes, key: str, title: str, name: str | None = None) -> None:
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("epoch")
    axes.set_ylabel(name or key.replace("_", " ").replace("bce", "cross-entropy"))
    if key.endswith(LOG_SCALE):
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False))
        axes.yaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5)))
    axes.grid(alpha=0.3, which="both")


def panel_title(result: VariantResult) -> str:
    seeds = len(result.histories)
    note = ", did not learn: chance accuracy" if not result.learned else ""
    return f"{result.variant} ({seeds} seed{'s' if seeds != 1 else ''}{note})"


def train_val_figure(results: list[VariantResult], metric: str) -> Figure:
    """The notebook's figure for ``metric`` (loss or accuracy): training vs validation, one panel per variant."""
    cols = min(2, len(results))
    rows = math.ceil(len(results) / cols)
    figure = Figure(figsize=(5.4 * cols, 3.4 * rows + 0.8), layout="constrained")
    grid = figure.subplots(rows, cols, squeeze=False)
    for axes, result in zip(grid.flat, results, strict=False):
        name = f"{metric} ({loss_words(result.loss_function)})" if metric == "loss" else metric
        draw_band(axes, result, metric, f"training {name}", "tab:blue", marker="o")
        draw_band(axes, result, f"val_{metric}", f"validation {name}", "tab:orange")
        mark_seed_stops(axes, result)
        label_axes(axes, metric, panel_title(result), name)
        axes.legend(fontsize=8)
    for axes in list(grid.flat)[len(results) :]:
        axes.set_visible(False)
    what = "loss, each variant's own function" if metric == "loss" else metric
    figure.suptitle(f"Training vs validation {what}, mean ± std over seeds")
    figure.supxlabel(BAND_NOTE, fontsize=9)
    return figure


def overlay(axes: Axes, results: list[VariantResult], colors: dict[str, str], key: str, title: str) -> None:
    for result in results:
        label = result.variant if result.learned else f"{result.variant} (did not learn: chance)"
        draw_band(axes, result, key, label, colors[result.variant])
        mark_seed_stops(axes, result, colors[result.variant])
    label_axes(axes, key, title)
    axes.legend(fontsize=8)


def overlay_figure(results: list[VariantResult], colors: dict[str, str], key: str, title: str) -> Figure:
    """One mean ± std band per variant; when a variant did not learn, a second panel shows the others alone."""
    learnt = [r for r in results if not not r.learned]
    zoom = 0 < len(learnt) < len(results)
    figure = Figure(figsize=(11 if zoom else 6.5, 4.6), layout="constrained")
    panels = figure.subplots(1, 2 if zoom else 1, squeeze=False).flat
    names = "all variants" if zoom or len(results) > 2 else " vs ".join(r.variant for r in results)
    overlay(panels[0], results, colors, key, names)
    if zoom:
        dropped = ", ".join(r.variant for r in results if not r.learned)
        overlay(panels[1], learnt, colors, key, f"without {dropped}, which did not learn")
    figure.suptitle(f"{title}, mean ± std over seeds")
    figure.supxlabel(BAND_NOTE, fontsize=9)
    return figure


def study_figures(results: list[VariantResult], pair: list[str]) -> dict[str, Figure]:
    """Every comparison figure, keyed by file name; the L1-vs-L2 pair only when both variants are present."""
    colors = {r.variant: COLORS[i % len(COLORS)] for i, r in enumerate(results)}
    figures = {
        "train_val_loss.png": train_val_figure(results, "loss"),
        "train_val_accuracy.png": train_val_figure(results, "accuracy"),
        "val_bce_all.png": overlay_figure(results, colors, "val_bce", "Validation cross-entropy, all variants"),
        "val_accuracy_all.png": overlay_figure(results, colors, "val_accuracy", "Validation accuracy, all variants"),
    }
    chosen = [r for r in results if r.variant in pair]
    if len(chosen) == len(pair) >= 2:
        names = " vs ".join(pair)
        for key in ("val_bce", "val_accuracy"):
            figure = Figure(figsize=(6.5, 4.6), layout="constrained")
            overlay(figure.subplots(), chosen, colors, key, names)
            figure.suptitle(f"{NAMES[key]}: {names}, mean ± std over seeds")
            figure.supxlabel(BAND_NOTE, fontsize=8)
            figures[f"pair_{key}.png"] = figure
    return figures
