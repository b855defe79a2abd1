"""Compare's choice as the final and baselines stages read it: ``best.json``, and the overrides that compose the
winner.

In config, not in compare's package: the stages need both before TensorFlow is imported (only once their
config is valid), and depending on this file must not make them depend on compare's code.
"""

from __future__ import annotations

from pathlib import Path

from imdb_sentiment.runtime.outputs import read_json


def read_choice(path: Path) -> dict:
    """The compare stage's ``best.json`` (``paths.choice``): the chosen variant and the epochs to retrain it for,
    and why it won."""
    return read_json(path, "compare")


def winner_overrides(task_overrides: list[str], variant: str) -> list[str]:
    """The user's command-line overrides, with the model group set to the chosen variant."""
    return [o for o in task_overrides if o.split("=", 1)[0].lstrip("+~") != "model"] + [f"model={variant}"]
