"""Structured-config schema for every Hydra group.

Hydra merges the YAML files under ``conf/`` into these dataclasses, so an unknown key or a value of the
wrong type fails at composition time with the key's full name. Range and consistency checks live in
``__post_init__``, which runs when :func:`validate` turns the composed config into objects, before any
stage does work.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from imdb_sentiment.errors import ConfigError


class Activation(Enum):
    tanh = "tanh"
    relu = "relu"
    sigmoid = "sigmoid"
    elu = "elu"
    gelu = "gelu"
    selu = "selu"
    linear = "linear"


class Regularizer(Enum):
    none = "none"
    l1 = "l1"
    l2 = "l2"
    l1_l2 = "l1_l2"


class Optimizer(Enum):
    adam = "adam"
    adamw = "adamw"
    rmsprop = "rmsprop"
    sgd = "sgd"
    nadam = "nadam"
    adagrad = "adagrad"


class Loss(Enum):
    mse = "mse"
    binary_crossentropy = "binary_crossentropy"


class FeatureDtype(Enum):
    """Only float32: Keras copies float64 input to float32, so anything wider only costs memory."""

    float32 = "float32"


class TrainOn(Enum):
    partial = "partial"
    full = "full"


def _require(key: str, value: Any, ok: bool, allowed: str) -> None:
    """Raise a ConfigError that names the key, the value and what is allowed."""
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")


@dataclass
class PathsConfig:
    data_dir: str = "data"
    raw_dir: str = "${paths.data_dir}/raw"
    interim_dir: str = "${paths.data_dir}/interim"
    processed_dir: str = "${paths.data_dir}/processed"
    models_dir: str = "models"
    reports_dir: str = "reports"


@dataclass
class DataConfig:
    base_url: str = MISSING
    npz_file: str = "imdb.npz"
    npz_sha256: list[str] = field(default_factory=list)
    word_index_file: str = "imdb_word_index.json"
    word_index_sha256: list[str] = field(default_factory=list)
    mirror: Optional[str] = None
    timeout_s: float = 30.0
    retries: int = 3
    num_words: int = 10000
    seed: int = 113
    start_char: int = 1
    oov_char: int = 2
    index_from: int = 3
    skip_top: int = 0

    def __post_init__(self) -> None:
        reserved = max(self.start_char, self.oov_char, self.index_from)
        _require("data.num_words", self.num_words, self.num_words > reserved,
                 f"an integer > {reserved} (ids below index_from are reserved for padding, start and OOV)")
        _require("data.index_from", self.index_from, self.index_from >= 0, "an integer >= 0")
        _require("data.skip_top", self.skip_top, 0 <= self.skip_top < self.num_words,
                 "an integer in [0, num_words)")
        _require("data.timeout_s", self.timeout_s, self.timeout_s > 0, "a number of seconds > 0")
        _require("data.retries", self.retries, self.retries >= 0, "an integer >= 0")

    def trusted_digests(self, name: str) -> tuple[str, list[str]]:
        """The config key that lists the trusted digests of file ``name``, and those digests."""
        key = {self.npz_file: "npz_sha256", self.word_index_file: "word_index_sha256"}[name]
        return f"data.{key}", [digest.lower() for digest in getattr(self, key)]


@dataclass
class FeaturesConfig:
    dtype: FeatureDtype = FeatureDtype.float32
    validation_rows: int = 10000

    def __post_init__(self) -> None:
        _require("features.validation_rows", self.validation_rows, self.validation_rows > 0,
                 "an integer > 0")


@dataclass
class ModelConfig:
    name: str = MISSING
    hidden_layers: int = 1
    units: int = 32
    activation: Activation = Activation.tanh
    output_activation: Activation = Activation.sigmoid
    regularizer: Regularizer = Regularizer.none
    regularization: float = 0.01
    dropout: float = 0.0
    optimizer: Optimizer = Optimizer.rmsprop
    learning_rate: Optional[float] = None
    loss: Loss = Loss.mse

    def __post_init__(self) -> None:
        _require("model.hidden_layers", self.hidden_layers, self.hidden_layers >= 1, "an integer >= 1")
        _require("model.units", self.units, self.units >= 1, "an integer >= 1")
        _require("model.dropout", self.dropout, 0.0 <= self.dropout < 1.0, "a number in [0, 1)")
        _require("model.regularization", self.regularization, self.regularization >= 0,
                 "a number >= 0")
        _require("model.learning_rate", self.learning_rate,
                 self.learning_rate is None or self.learning_rate > 0,
                 "null (the optimizer's Keras default) or a number > 0")


@dataclass
class TrainerConfig:
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    max_epochs: int = 100
    batch_size: int = 512
    eval_batch_size: int = 4096
    patience: int = 10
    monitor: str = "val_loss"
    restore_best_weights: bool = True
    steps_per_execution: int = 1
    deterministic: bool = True
    fast_path: bool = True  # the speed layer (imdb_sentiment.fast_path); false: stock Keras pieces
    verbose: bool = True

    def __post_init__(self) -> None:
        _require("trainer.seeds", self.seeds, len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds),
                 "a non-empty list of distinct integers")
        _require("trainer.max_epochs", self.max_epochs, self.max_epochs >= 1, "an integer >= 1")
        _require("trainer.batch_size", self.batch_size, self.batch_size >= 1, "an integer >= 1")
        _require("trainer.eval_batch_size", self.eval_batch_size, self.eval_batch_size >= 1,
                 "an integer >= 1")
        _require("trainer.patience", self.patience, self.patience >= 0, "an integer >= 0")
        _require("trainer.monitor", self.monitor, self.monitor in MONITORS, f"one of {sorted(MONITORS)}")
        _require("trainer.steps_per_execution", self.steps_per_execution, self.steps_per_execution >= 1,
                 "an integer >= 1")


MONITORS = {"val_loss", "val_accuracy"}


@dataclass
class TrackingConfig:
    uri: Optional[str] = None
    experiment_name: str = "imdb-sentiment"
    parent_run_id: Optional[str] = None  # set by a sweep, so each trial's run nests under the sweep's run


class SelectionMetric(Enum):
    """Summary metrics compare can rank variants by, both at each seed's best epoch (training.summarize);
    accuracy is maximised, loss minimised."""

    best_val_accuracy = "best_val_accuracy"
    best_val_loss = "best_val_loss"

    @property
    def maximized(self) -> bool:
        return self is SelectionMetric.best_val_accuracy


@dataclass
class CompareConfig:
    variants: list[str] = field(default_factory=list)
    metric: SelectionMetric = SelectionMetric.best_val_accuracy
    runner_up_plots: list[str] = field(default_factory=lambda: ["l1_3layer", "l2_3layer"])


@dataclass
class FinalConfig:
    train_on: TrainOn = TrainOn.partial
    seed: int = 0
    registered_model_name: str = "imdb-sentiment"
    text_model_name: str = "imdb-sentiment-text"
    alias: str = "champion"
    threshold: float = 0.5

    def __post_init__(self) -> None:
        _require("final.threshold", self.threshold, 0.0 < self.threshold < 1.0, "a number in (0, 1)")




@dataclass
class Config:
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    final: FinalConfig = field(default_factory=FinalConfig)


@dataclass
class PredictAppConfig(Config):
    """``stages/predict.py``'s config: the pipeline's, plus what to score (``text=...`` or ``file=...``)."""

    text: Optional[str] = None
    file: Optional[str] = None
    model_uri: Optional[str] = None  # null: models:/<final.registered_model_name>@<final.alias>
    max_reviews: int = 100_000
    max_review_chars: int = 10_000_000

    def __post_init__(self) -> None:
        _require("max_reviews", self.max_reviews, self.max_reviews >= 1, "an integer >= 1")
        _require("max_review_chars", self.max_review_chars, self.max_review_chars >= 1, "an integer >= 1")


def dvc_param(key: str) -> Any:
    """``${dvc_param:variants}``: a value from DVC's params.yaml, so the variant list lives in one place."""
    path = Path("params.yaml")
    if not path.is_file():
        raise ConfigError(f"params.yaml not found in {Path.cwd()}: run stages from the project root")
    return yaml.safe_load(path.read_text())[key]


def register_configs() -> None:
    """Store the schema so ``conf/config.yaml`` can list ``base_config`` first in its defaults."""
    ConfigStore.instance().store(name="base_config", node=Config)
    ConfigStore.instance().store(name="predict_base", node=PredictAppConfig)
    OmegaConf.register_new_resolver("dvc_param", dvc_param, replace=True)


def validate(cfg: DictConfig) -> Config:
    """Resolve interpolations and run every range check; raise ConfigError naming the bad key."""
    try:
        return OmegaConf.to_object(cfg)  # type: ignore[return-value]
    except ConfigError:
        raise
    except Exception as exc:  # OmegaConf's own validation errors carry the full key already
        raise ConfigError(str(exc).splitlines()[0]) from exc


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a validated config into dotted keys (``model.units``) for MLflow params."""
    if is_dataclass(obj):
        items = ((f.name, getattr(obj, f.name)) for f in fields(obj))
    elif isinstance(obj, dict):
        items = obj.items()
    else:
        return {prefix: obj.value if isinstance(obj, Enum) else obj}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


register_configs()
