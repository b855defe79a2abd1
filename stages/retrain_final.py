"""DVC stage: retrain the variant compare chose, evaluate it on the test reviews, register it; then score it
against the other retraining protocol and the notebook's own choice on the same reviews."""

from pathlib import Path

import hydra
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from imdb_sentiment.cli import run_and_exit, run_stage
from imdb_sentiment.config.schema import Config, validate
from imdb_sentiment.final.choice import read_choice, winner_overrides
from imdb_sentiment.runtime.quiet import import_tensorflow


def retrain_stage(cfg: Config) -> None:
    import_tensorflow()  # only once the config is valid, and without its start-up banners
    from imdb_sentiment.final.retrain import retrain_final

    choice = read_choice(Path(cfg.paths.choice))
    task = list(HydraConfig.get().overrides.task)
    winner, notebook = (
        validate(compose(config_name="config", overrides=winner_overrides(task, variant)))
        for variant in (choice["variant"], cfg.final.notebook_variant)
    )
    retrain_final(winner, choice, notebook)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_stage(cfg, retrain_stage)


if __name__ == "__main__":
    run_and_exit(main)
