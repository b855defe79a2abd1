"""Structured-config schema for every Hydra group: types and checks, no values.

Every value lives in the YAML under ``conf/`` and each field here is ``MISSING``, so a key no file sets fails
at start-up, named, instead of falling back to a default that drifts from the YAML. An unknown key or a value
of the wrong type fails at composition with its full name; range checks run in ``__post_init__`` (validate).
"""

from __future__ import annotations

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

# The enums and helpers are re-exported: every config name is imported from this module.
from imdb_sentiment.config.choices import (  # noqa: F401
    Activation,
    FeatureDtype,
    Loss,
    Monitor,
    Optimizer,
    PredictOutput,
    Regularizer,
    SelectionMetric,
    TrainOn,
    loss_words,
)
from imdb_sentiment.config.paths import PathsConfig  # noqa: F401
from imdb_sentiment.config.tools import at_least, dvc_param, flatten, require, validate  # noqa: F401
from imdb_sentiment.runtime.errors import ConfigError  # noqa: F401


@dataclass
class DataConfig:
    base_url: str = MISSING
    npz_file: str = MISSING
    npz_sha256: list[str] = MISSING
    word_index_file: str = MISSING
    word_index_sha256: list[str] = MISSING
    mirror: str | None = MISSING
    timeout_s: float = MISSING
    retries: int = MISSING
    num_words: int = MISSING
    seed: int = MISSING
    start_char: int = MISSING
    oov_char: int = MISSING
    index_from: int = MISSING
    skip_top: int = MISSING

    def __post_init__(self) -> None:
        reserved = max(self.start_char, self.oov_char, self.index_from)
        require(
            "data.num_words",
            self.num_words,
            self.num_words > reserved,
            f"an integer > {reserved} (ids below index_from are reserved for padding, start and OOV)",
        )
        at_least("data.index_from", self.index_from, 0)
        require("data.skip_top", self.skip_top, 0 <= self.skip_top < self.num_words, "an integer in [0, num_words)")
        require("data.timeout_s", self.timeout_s, self.timeout_s > 0, "a number of seconds > 0")
        at_least("data.retries", self.retries, 0)

    def trusted_digests(self, name: str) -> tuple[str, list[str]]:
        """The config key that lists the trusted digests of file ``name``, and those digests."""
        key = {self.npz_file: "npz_sha256", self.word_index_file: "word_index_sha256"}[name]
        return f"data.{key}", [digest.lower() for digest in getattr(self, key)]


@dataclass
class FeaturesConfig:
    name: str = MISSING
    dtype: FeatureDtype = MISSING
    validation_rows: int = MISSING
    bigrams: int = MISSING  # the most frequent word pairs of the training split added as columns; 0: none
    trigrams: int = MISSING  # the most frequent runs of three words of the training split, after the bigrams
    nb_scaling: bool = MISSING  # each column times its naive-Bayes log-count ratio (NBSVM), fitted on training rows
    nb_alpha: float = MISSING  # the ratios' smoothing count (Wang & Manning's alpha)

    def __post_init__(self) -> None:
        require("features.validation_rows", self.validation_rows, self.validation_rows > 0, "an integer > 0")
        at_least("features.bigrams", self.bigrams, 0)
        at_least("features.trigrams", self.trigrams, 0)
        require("features.nb_alpha", self.nb_alpha, self.nb_alpha > 0, "a number > 0")


@dataclass
class ModelConfig:
    name: str = MISSING
    hidden_layers: int = MISSING
    units: int = MISSING
    activation: Activation = MISSING
    output_activation: Activation = MISSING
    regularizer: Regularizer = MISSING
    regularization: float = MISSING
    dropout: float = MISSING
    optimizer: Optimizer = MISSING
    learning_rate: float | None = MISSING
    loss: Loss = MISSING

    def __post_init__(self) -> None:
        at_least("model.hidden_layers", self.hidden_layers, 0)  # 0: a logistic regression (the linear variant)
        at_least("model.units", self.units, 1)
        require("model.dropout", self.dropout, 0.0 <= self.dropout < 1.0, "a number in [0, 1)")
        require("model.regularization", self.regularization, self.regularization >= 0, "a number >= 0")
        require(
            "model.learning_rate",
            self.learning_rate,
            self.learning_rate is None or self.learning_rate > 0,
            "null (the optimizer's Keras default) or a number > 0",
        )


@dataclass
class TrainerConfig:
    seeds: list[int] = MISSING
    max_epochs: int = MISSING
    batch_size: int = MISSING
    eval_batch_size: int = MISSING
    patience: int = MISSING
    monitor: Monitor = MISSING
    restore_best_weights: bool = MISSING
    steps_per_execution: int = MISSING
    deterministic: bool = MISSING
    fast_path: bool = MISSING  # the speed layer (imdb_sentiment.model.fast_path); false: stock Keras pieces
    verbose: bool = MISSING
    chance_margin: float = MISSING  # validation accuracy within 0.5 ± this on every epoch: did not learn

    def __post_init__(self) -> None:
        distinct = len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds)
        require("trainer.seeds", self.seeds, distinct, "a non-empty list of distinct integers")
        at_least("trainer.max_epochs", self.max_epochs, 1)
        at_least("trainer.batch_size", self.batch_size, 1)
        at_least("trainer.eval_batch_size", self.eval_batch_size, 1)
        at_least("trainer.patience", self.patience, 0)
        at_least("trainer.steps_per_execution", self.steps_per_execution, 1)
        require("trainer.chance_margin", self.chance_margin, 0 <= self.chance_margin < 0.5, "a number in [0, 0.5)")


@dataclass
class TrackingConfig:
    uri: str | None = MISSING
    experiment_name: str = MISSING
    parent_run_id: str | None = MISSING  # set by a sweep, so each trial's run nests under the sweep's run
    tags: dict[str, str] = MISSING  # extra tags on every run of the stage (a sweep's: its study and trial)
    background_writes: bool = MISSING  # metrics and a seed's artifacts written on background threads


@dataclass
class CompareConfig:
    variants: list[str] = MISSING
    metric: SelectionMetric = MISSING
    runner_up_plots: list[str] = MISSING


@dataclass
class FinalConfig:
    train_on: TrainOn = MISSING
    seed: int = MISSING
    registered_model_name: str = MISSING
    text_model_name: str = MISSING
    alias: str = MISSING
    threshold: float = MISSING
    notebook_variant: str = MISSING  # the notebook's own final choice, retrained beside ours
    notebook_epochs: int = MISSING

    def __post_init__(self) -> None:
        require("final.threshold", self.threshold, 0.0 < self.threshold < 1.0, "a number in (0, 1)")
        at_least("final.notebook_epochs", self.notebook_epochs, 1)


@dataclass
class VectorizeTarget:
    features: str = MISSING  # the conf/features/ file that builds this vocabulary
    words: int = MISSING
    bigrams: int = MISSING
    seconds: float = MISSING
    peak_rss_mb: float = MISSING


@dataclass
class ReportConfig:
    """What the results page measures this run against: the notebook's published result and the targets."""

    published_test_accuracy: float = MISSING
    published_train_rows: int = MISSING
    accuracy_targets: dict[str, float] = MISSING  # conf/features/ file -> target final test accuracy
    study_seconds_targets: dict[str, float] = MISSING  # conf/features/ file -> the whole study's time limit
    vectorize_target: VectorizeTarget = MISSING

    def __post_init__(self) -> None:
        accuracies = {"published_test_accuracy": self.published_test_accuracy}
        accuracies.update({f"accuracy_targets.{name}": value for name, value in self.accuracy_targets.items()})
        for key, value in accuracies.items():
            require(f"report.{key}", value, 0 <= value <= 1, "a number in [0, 1]")
        for name, seconds in self.study_seconds_targets.items():
            require(f"report.study_seconds_targets.{name}", seconds, seconds > 0, "a number of seconds > 0")


@dataclass
class Config:
    paths: PathsConfig = MISSING
    data: DataConfig = MISSING
    features: FeaturesConfig = MISSING
    model: ModelConfig = MISSING
    trainer: TrainerConfig = MISSING
    tracking: TrackingConfig = MISSING
    compare: CompareConfig = MISSING
    final: FinalConfig = MISSING
    report: ReportConfig = MISSING


@dataclass
class PredictAppConfig(Config):
    """``imdb-sentiment predict``'s config: the pipeline's, plus what to score (``text=...`` or ``file=...``)."""

    text: str | None = MISSING
    file: str | None = MISSING
    model_uri: str | None = MISSING  # a Keras model; null: models:/<final.text_model_name>@<final.alias>
    min_known_share: float = MISSING
    max_reviews: int = MISSING
    max_review_chars: int = MISSING
    output: PredictOutput = MISSING

    def __post_init__(self) -> None:
        share = self.min_known_share
        require("min_known_share", share, 0 <= share <= 1, "a share from 0 to 1")
        at_least("max_reviews", self.max_reviews, 1)
        at_least("max_review_chars", self.max_review_chars, 1)


def register_configs() -> None:
    """Store the schema so ``conf/config.yaml`` can list ``base_config`` first in its defaults."""
    ConfigStore.instance().store(name="base_config", node=Config)
    ConfigStore.instance().store(name="predict_base", node=PredictAppConfig)
    OmegaConf.register_new_resolver("dvc_param", dvc_param, replace=True)


register_configs()
