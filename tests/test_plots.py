"""Every figure the pipeline saves shows all its text inside the image, with titled axes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from imdb_sentiment.compare.figures import study_figures
from imdb_sentiment.compare.ranking import VariantResult
from imdb_sentiment.final.figures import final_figures
from imdb_sentiment.train.figures import history_figures

FIGURES_OUT = Path(__file__).resolve().parents[1] / ".pytest_cache" / "figures"  # to look at them by eye


def history(epochs: int, shift: float) -> dict[str, list[float]]:
    steps = np.arange(1, epochs + 1)
    return {
        "loss": list(0.6 / steps + shift),
        "val_loss": list(0.5 / steps + 0.1 + shift),
        "accuracy": list(1 - 0.3 / steps - shift),
        "val_accuracy": list(0.9 - 0.2 / steps - shift),
    }


def variant(name: str, shift: float) -> VariantResult:
    histories = {0: history(12, shift), 1: history(9, shift + 0.01)}
    seeds = {str(seed): {"best_val_accuracy": max(h["val_accuracy"])} for seed, h in histories.items()}
    return VariantResult(name, seed_runs={"seeds": seeds}, histories=histories)


def all_figures() -> dict[str, Figure]:
    variants = [
        variant(name, 0.02 * i) for i, name in enumerate(["base_1layer", "l2_1layer", "l1_3layer", "l2_3layer"])
    ]
    return {
        **{f"seed_{name}": figure for name, figure in history_figures(history(20, 0.0), "l2_3layer seed 0").items()},
        **study_figures(variants, ["l1_3layer", "l2_3layer"]),
        **final_figures(history(7, 0.0), *scores(), threshold=0.5, loss_name="binary_crossentropy"),
    }


def scores() -> tuple[np.ndarray, np.ndarray]:
    """Labels and well-separated probabilities, as a trained model's on the test reviews."""
    rng = np.random.default_rng(0)
    y = np.arange(2_000) % 2
    return y, np.clip(rng.beta(1, 6, 2_000) * (1 - y) + (1 - rng.beta(1, 6, 2_000)) * y, 0, 1)


FIGURES = all_figures()


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_text_of_a_figure_lies_inside_it_and_axes_are_titled(name):
    figure = FIGURES[name]
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
