"""DVC stage: download (or copy from IMDB_MIRROR) and verify the Keras IMDB files, then decode them."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from imdb_sentiment.cli import run_and_exit, run_stage
from imdb_sentiment.config.schema import Config
from imdb_sentiment.data.fetch import fetch


def fetch_stage(cfg: Config) -> None:
    fetch(cfg.data, Path(cfg.paths.raw_dir), Path(cfg.paths.sequences))


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_stage(cfg, fetch_stage)


if __name__ == "__main__":
    run_and_exit(main)
