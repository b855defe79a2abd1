"""Structured-config schema of ``stages/sweep.py``: the pipeline's config plus ``sweep.*`` (conf/sweep.yaml and
the search in conf/hparams_search/). As in :mod:`imdb_sentiment.config.schema`, values live in the YAML only."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from imdb_sentiment.config.schema import Config, at_least, require

SEARCHABLE_SECTIONS = ("model", "trainer")  # what a model config file may set (conf/model/*.yaml)


class PrunerName(Enum):
    """How hopeless trials are stopped early (``sweep.pruner``), on the validation score of each epoch."""

    none = "none"
    median = "median"
    hyperband = "hyperband"


class Direction(Enum):
    maximize = "maximize"
    minimize = "minimize"


@dataclass
class SearchParam:
    """One searched key: ``choices`` (categorical), or ``low``/``high`` (integers when both are integers)."""

    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False

    def check(self, key: str) -> None:
        require(
            f"sweep.params.{key}",
            key,
            key.split(".", 1)[0] in SEARCHABLE_SECTIONS and "." in key,
            "a key under model. or trainer. (the best trial is written as a model config file)",
        )
        if self.choices is not None:
            require(
                f"sweep.params.{key}.choices",
                self.choices,
                len(self.choices) >= 1 and self.low is None,
                "a non-empty list, without low/high",
            )
            return
        ranged = self.low is not None and self.high is not None and self.low < self.high
        require(f"sweep.params.{key}", f"low={self.low} high={self.high}", ranged, "choices, or low < high")
        require(f"sweep.params.{key}.log", self.log, not self.log or self.low > 0, "true only when low > 0")

    @property
    def integer(self) -> bool:
        return self.choices is None and float(self.low).is_integer() and float(self.high).is_integer() and not self.log


@dataclass
class SweepConfig:
    study_name: str = MISSING
    storage: str | None = MISSING  # null: SQLite sweeps.db at the project root
    workers: int = MISSING
    n_trials: int = MISSING
    direction: Direction = MISSING
    params: dict[str, SearchParam] = MISSING
    sampler_seed: int | None = MISSING
    startup_trials: int = MISSING
    pruner: PrunerName = MISSING
    warmup_epochs: int = MISSING
    heartbeat_seconds: int = MISSING
    grace_seconds: int = MISSING
    max_retries: int = MISSING
    variant_name: str = MISSING
    model_dir: str = MISSING
    trials_dir: str = MISSING

    def __post_init__(self) -> None:
        at_least("sweep.workers", self.workers, 1)
        at_least("sweep.n_trials", self.n_trials, 1)
        at_least("sweep.startup_trials", self.startup_trials, 0)
        at_least("sweep.warmup_epochs", self.warmup_epochs, 0)
        at_least("sweep.heartbeat_seconds", self.heartbeat_seconds, 1)
        at_least("sweep.max_retries", self.max_retries, 0)
        require(
            "sweep.grace_seconds",
            self.grace_seconds,
            self.grace_seconds > self.heartbeat_seconds,
            f"a number of seconds > sweep.heartbeat_seconds ({self.heartbeat_seconds})",
        )
        require("sweep.params", dict(self.params), len(self.params) >= 1, "at least one searched key")
        for key, param in self.params.items():
            param.check(key)
        require(
            "sweep.variant_name",
            self.variant_name,
            self.variant_name[:1].isalpha() and self.variant_name.replace("_", "").replace("-", "").isalnum(),
            "a name of letters, digits, '_' and '-' that starts with a letter",
        )


@dataclass
class SweepAppConfig(Config):
    sweep: SweepConfig = MISSING

    def __post_init__(self) -> None:
        metric = self.compare.metric
        expected = Direction.maximize if metric.maximized else Direction.minimize
        require(
            "sweep.direction",
            self.sweep.direction.value,
            self.sweep.direction is expected,
            f"{expected.value} (compare.metric={metric.value}, what every trial returns)",
        )


ConfigStore.instance().store(name="sweep_base", node=SweepAppConfig)
