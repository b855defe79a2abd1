"""compare's winner overrides: the chosen variant replaces any model choice on the command line."""

from __future__ import annotations

from imdb_sentiment.config.choice import winner_overrides


def test_winner_overrides_replace_any_model_choice():
    assert winner_overrides(["model=base_1layer", "trainer.seeds=[0]", "model.units=8"], "l2_3layer") == [
        "trainer.seeds=[0]",
        "model.units=8",
        "model=l2_3layer",
    ]
    assert winner_overrides(["trainer.seeds=[0]", "model=x"], "l2_3layer") == ["trainer.seeds=[0]", "model=l2_3layer"]
