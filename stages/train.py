"""DVC stage: train one variant (`model=...`) for every seed in `trainer.seeds`, tracked in MLflow."""

import hydra
from omegaconf import DictConfig

from imdb_sentiment.cli import run_stage
from imdb_sentiment.config import Config


def train_stage(cfg: Config) -> None:
    from imdb_sentiment.experiment import train_variant  # TensorFlow loads only once the config is valid

    train_variant(cfg)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_stage(cfg, train_stage)


if __name__ == "__main__":
    main()
