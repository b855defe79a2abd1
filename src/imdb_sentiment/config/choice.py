"""Compare's choice as the retrain_final stage reads it: ``best.json``, and the overrides that compose the winner.

Kept apart from :mod:`imdb_sentiment.final.retrain` because the stage needs both before TensorFlow is imported (only
once its config is valid), and final imports Keras and MLflow at the top.
"""

from __future__ import annotations

import json
from pathlib import Path

from imdb_sentiment.runtime.errors import DataError


def read_choice(path: Path) -> dict:
    """The compare stage's ``best.json`` (``paths.choice``): the chosen variant and the epochs to retrain it for,
    and why it won."""
    if not path.is_file():
        raise DataError(f"{path} is missing: run the compare stage first (dvc repro compare)")
    return json.loads(path.read_text())


def winner_overrides(task_overrides: list[str], variant: str) -> list[str]:
    """The user's command-line overrides, with the model group set to the chosen variant."""
    return [o for o in task_overrides if o.split("=", 1)[0].lstrip("+~") != "model"] + [f"model={variant}"]
