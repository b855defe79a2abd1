"""Retrain what the final model is read against: the other protocol's winner and the notebook's choice.

DVC stage `baselines`: the winner under the other protocol (final.train_on) and the notebook's own choice
(final.notebook_variant for final.notebook_epochs), each scored on the test reviews.
"""

from pathlib import Path

from hydra import compose
from hydra.core.hydra_config import HydraConfig

from imdb_sentiment.config.choice import read_choice, winner_overrides
from imdb_sentiment.config.schema import Config, validate
from imdb_sentiment.runtime.quiet import import_keras

CONFIG = "config"  # conf/config.yaml


def task(cfg: Config) -> None:
    choice = read_choice(Path(cfg.paths.choice))
    task = list(HydraConfig.get().overrides.task)
    winner, notebook = (
        validate(compose(config_name="config", overrides=winner_overrides(task, variant)))
        for variant in (choice["variant"], cfg.final.notebook_variant)
    )
    from imdb_sentiment.model.fast_path import keras_backend  # torch: only once the config is valid

    import_keras(keras_backend(cfg.model, cfg.trainer))
    from imdb_sentiment.baselines.retrain import retrain_baselines

    retrain_baselines(winner, notebook, choice)
