"""The model summary saved with every run is complete, whatever the width of the terminal that ran the stage."""

from __future__ import annotations

import os
import shutil

import pytest
from helpers.config import compose_config

from imdb_sentiment.config.schema import validate
from imdb_sentiment.model.networks import build_model, model_summary


@pytest.fixture
def narrow_terminal(monkeypatch):
    """A 40-column terminal, however the width is asked for: COLUMNS, shutil's or the OS's terminal size."""
    size = os.terminal_size((40, 20))
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setattr(shutil, "get_terminal_size", lambda *args, **kwargs: size)
    monkeypatch.setattr(os, "get_terminal_size", lambda *args, **kwargs: size)


def test_summary_lists_every_layer_with_its_parameter_count_in_a_narrow_terminal(narrow_terminal):
    cfg = validate(compose_config("model=l2_3layer"))
    model = build_model(cfg.model, num_words=10_000, sparse=False)
    summary = model_summary(model)
    assert "Param #" in summary
    assert f"Total params: {model.count_params():,}" in summary
    for layer in model.layers:
        line = next((line for line in summary.splitlines() if f"{layer.name} (" in line), None)
        assert line is not None, f"{layer.name} missing from:\n{summary}"
        assert line.rstrip().endswith(f"{layer.count_params():,} │"), f"{layer.name}'s count cut off:\n{summary}"
    rows = [line for line in summary.splitlines() if line.startswith(("│", "┃"))]
    assert rows and all(line.rstrip()[-1] in "│┃" for line in rows), summary
