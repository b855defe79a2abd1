"""Retrain the variant compare chose, score it on the test reviews, and log it to MLflow.

DVC stage `final`: retrains on final.train_on, saves the model, and logs it (the Keras model and the raw-text
model around it) to MLflow for the register stage.
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
    winner = validate(
        compose(
            config_name="config", overrides=winner_overrides(list(HydraConfig.get().overrides.task), choice["variant"])
        )
    )
    from imdb_sentiment.model.fast_path import keras_backend  # torch: only once the config is valid

    import_keras(keras_backend(winner.model, winner.trainer))
    from imdb_sentiment.final.retrain import retrain_final

    retrain_final(winner, choice)
