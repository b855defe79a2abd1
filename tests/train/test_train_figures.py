"""Every figure the train stage saves shows all its text inside the image, with titled axes."""

from __future__ import annotations

import pytest
from helpers.figures import assert_text_inside_and_axes_titled, history

from imdb_sentiment.train.figures import history_figures

DRAWN = history_figures(history(20, 0.0), "l2_3layer seed 0", "mse")
FIGURES = {f"seed_{name}": figure for name, figure in DRAWN.items()}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_text_of_a_figure_lies_inside_it_and_axes_are_titled(name):
    assert_text_inside_and_axes_titled(name, FIGURES[name])
