"""DVC stage: compare the trained variants and choose the one to retrain, with the reason in words."""

import hydra
from omegaconf import DictConfig

from imdb_sentiment.cli import run_and_exit, run_stage
from imdb_sentiment.compare.summary import compare_variants


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_stage(cfg, compare_variants)


if __name__ == "__main__":
    run_and_exit(main)
