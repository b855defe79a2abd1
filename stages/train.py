"""DVC stage: train one variant (`model=...`) for every seed in `trainer.seeds`, tracked in MLflow."""

import hydra
from omegaconf import DictConfig

from imdb_sentiment.cli import run_and_exit, run_stage
from imdb_sentiment.config import Config
from imdb_sentiment.quiet import import_tensorflow


def train_stage(cfg: Config) -> float:
    """Train the variant; return the seeds' mean of the metric compare ranks by (a sweep's objective)."""
    import_tensorflow()  # only once the config is valid, and without its start-up banners
    from imdb_sentiment.variant_training import train_variant

    metrics = train_variant(cfg)
    return metrics[cfg.compare.metric.value]


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    return run_stage(cfg, train_stage)


if __name__ == "__main__":
    run_and_exit(main)
