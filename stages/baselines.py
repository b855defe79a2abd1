"""DVC stage: what the final model is read against, retrained beside it: the winner under the other protocol
(final.train_on) and the notebook's own choice (final.notebook_variant for final.notebook_epochs), each scored on
the test reviews."""

from pathlib import Path

import hydra
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from imdb_sentiment.cli import run_and_exit, run_stage
from imdb_sentiment.config.choice import read_choice, winner_overrides
from imdb_sentiment.config.schema import Config, validate
from imdb_sentiment.runtime.quiet import import_tensorflow


def baselines_stage(cfg: Config) -> None:
    choice = read_choice(Path(cfg.paths.choice))
    task = list(HydraConfig.get().overrides.task)
    winner, notebook = (
        validate(compose(config_name="config", overrides=winner_overrides(task, variant)))
        for variant in (choice["variant"], cfg.final.notebook_variant)
    )
    import_tensorflow()  # only once the config is valid, and without its start-up banners
    from imdb_sentiment.baselines.retrain import retrain_baselines

    retrain_baselines(winner, notebook, choice)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_stage(cfg, baselines_stage)


if __name__ == "__main__":
    run_and_exit(main)
