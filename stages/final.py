"""DVC stage: retrain the variant compare chose on final.train_on, score it on the test reviews, save it, and log
it (the Keras model and the raw-text model around it) to MLflow for the register stage."""

from pathlib import Path

import hydra
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from imdb_sentiment.cli import run_and_exit, run_stage
from imdb_sentiment.config.choice import read_choice, winner_overrides
from imdb_sentiment.config.schema import Config, validate
from imdb_sentiment.runtime.quiet import import_tensorflow


def final_stage(cfg: Config) -> None:
    choice = read_choice(Path(cfg.paths.choice))
    winner = validate(
        compose(
            config_name="config", overrides=winner_overrides(list(HydraConfig.get().overrides.task), choice["variant"])
        )
    )
    import_tensorflow()  # only once the config is valid, and without its start-up banners
    from imdb_sentiment.final.retrain import retrain_final

    retrain_final(winner, choice)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_stage(cfg, final_stage)


if __name__ == "__main__":
    run_and_exit(main)
