"""What every stage does around its work: validate the config, report expected errors in one line."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from omegaconf import DictConfig

from imdb_sentiment.config import Config, validate
from imdb_sentiment.errors import PipelineError

log = logging.getLogger("imdb_sentiment")


def full_errors_wanted() -> bool:
    """The same switch as Hydra's: HYDRA_FULL_ERROR=1 shows the traceback of expected errors too."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def run_stage(cfg: DictConfig, stage: Callable[[Config], object]) -> None:
    """Validate ``cfg`` before any work, run ``stage``, and turn expected failures into exit code 2."""
    try:
        stage(validate(cfg))
    except PipelineError as exc:
        if full_errors_wanted():
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
