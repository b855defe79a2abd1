"""The check every saved figure passes (all its text inside the image, titled axes), and histories to draw."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from helpers.project import ROOT

FIGURES_OUT = ROOT / ".pytest_cache" / "figures"  # to look at them by eye


def history(epochs: int, shift: float) -> dict[str, list[float]]:
    steps = np.arange(1, epochs + 1)
    return {
        "loss": list(0.6 / steps + shift),
        "val_loss": list(0.5 / steps + 0.1 + shift),
        "accuracy": list(1 - 0.3 / steps - shift),
        "val_accuracy": list(0.9 - 0.2 / steps - shift),
        "bce": list(0.7 / steps + shift),
        "val_bce": list(0.6 / steps + 0.2 + shift),
    }


def assert_text_inside_and_axes_titled(name: str, figure: Figure) -> None:
    """Saved as the stages save it (under FIGURES_OUT), every text of ``figure`` lies inside the image, and its
    first axes has a title and both axis labels."""
    FIGURES_OUT.mkdir(parents=True, exist_ok=True)
    canvas = FigureCanvasAgg(figure)
    figure.savefig(FIGURES_OUT / name, dpi=100)  # as the stages save them: this runs the layout too
    renderer = canvas.get_renderer()
    inside = figure.bbox.padded(0.5)  # half a pixel of rounding
    for axes in figure.axes:
        extent = axes.get_tightbbox(renderer)  # ticks, tick labels, axis labels, title and legend as drawn
        assert inside.contains(extent.x0, extent.y0) and inside.contains(extent.x1, extent.y1), (
            f"{name}: text of {axes.get_label() or 'an axes'} reaches outside the figure: {extent} vs {figure.bbox}"
        )
    for artist in [*figure.texts, *figure.legends]:  # a figure's own texts (none of the axes')
        extent = artist.get_window_extent(renderer)
        assert inside.contains(extent.x0, extent.y0) and inside.contains(extent.x1, extent.y1), artist
    plot = figure.axes[0]
    assert plot.get_title() and plot.get_xlabel() and plot.get_ylabel(), f"{name}: an axis has no title"
