"""Every figure the final stage saves shows all its text inside the image, with titled axes."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.figures import assert_text_inside_and_axes_titled, history

from imdb_sentiment.final.figures import final_figures


def scores() -> tuple[np.ndarray, np.ndarray]:
    """Labels and well-separated probabilities, as a trained model's on the test reviews."""
    rng = np.random.default_rng(0)
    y = np.arange(2_000) % 2
    return y, np.clip(rng.beta(1, 6, 2_000) * (1 - y) + (1 - rng.beta(1, 6, 2_000)) * y, 0, 1)


FIGURES = final_figures(history(7, 0.0), *scores(), threshold=0.5, loss_name="binary_crossentropy")


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_text_of_a_figure_lies_inside_it_and_axes_are_titled(name):
    assert_text_inside_and_axes_titled(name, FIGURES[name])
