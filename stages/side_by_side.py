"""DVC stage: the final model beside its baselines on the same test reviews: both protocols' test accuracy, and
the notebook's choice against ours (McNemar's exact test, the difference's 95 % interval)."""

import hydra
from omegaconf import DictConfig

from imdb_sentiment.baselines.paired import write_side_by_side
from imdb_sentiment.cli import run_and_exit, run_stage


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_stage(cfg, write_side_by_side)


if __name__ == "__main__":
    run_and_exit(main)
