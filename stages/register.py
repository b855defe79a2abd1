"""DVC stage: register the final run's Keras and raw-text models in the MLflow Model Registry, and move
@champion (final.alias) of both to the new versions only if their test accuracy is at least the holder's."""

import hydra
from omegaconf import DictConfig

from imdb_sentiment.cli import run_and_exit, run_stage
from imdb_sentiment.registry.promote import register_final


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_stage(cfg, register_final)


if __name__ == "__main__":
    run_and_exit(main)
