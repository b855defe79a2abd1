"""Every figure the compare stage saves shows all its text inside the image, with titled axes."""

from __future__ import annotations

import pytest
from helpers.figures import assert_text_inside_and_axes_titled, history

from imdb_sentiment.compare.figures import study_figures
from imdb_sentiment.compare.ranking import VariantResult


def variant(name: str, shift: float) -> VariantResult:
    histories = {0: history(12, shift), 1: history(9, shift + 0.01)}
    seeds = {str(seed): {"best_val_accuracy": max(h["val_accuracy"])} for seed, h in histories.items()}
    return VariantResult(name, seed_runs={"seeds": seeds}, histories=histories)


VARIANTS = [variant(name, 0.02 * i) for i, name in enumerate(["base_1layer", "l2_1layer", "l1_3layer", "l2_3layer"])]
FIGURES = study_figures(VARIANTS, ["l1_3layer", "l2_3layer"])


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_text_of_a_figure_lies_inside_it_and_axes_are_titled(name):
    assert_text_inside_and_axes_titled(name, FIGURES[name])
