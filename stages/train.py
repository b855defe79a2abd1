"""Train one model variant for every seed in `trainer.seeds`, each an MLflow run (DVC stage train@<variant>).

Each seed keeps its best epoch by `trainer.monitor`; the variant's models go to models/variants/<variant>/, its
numbers and per-epoch histories to reports/train/<variant>/, and MLflow gets a parent run with a run per seed.

Examples:
  python stages/train.py model=l1_3layer                         # one variant, the study's three seeds
  python stages/train.py model=l2_3layer trainer.seeds=[0] trainer.max_epochs=5
  python stages/train.py model=base_1layer trainer.fast_path=false    # stock Keras layers and optimizers
"""

import hydra
from omegaconf import DictConfig

from imdb_sentiment.cli import run_and_exit, run_stage
from imdb_sentiment.config.schema import Config
from imdb_sentiment.runtime.quiet import import_tensorflow


def train_stage(cfg: Config) -> float:
    """Train the variant; return the seeds' mean of the metric compare ranks by."""
    import_tensorflow()  # only once the config is valid, and without its start-up banners
    from imdb_sentiment.train.variants import train_variant

    metrics = train_variant(cfg)
    return metrics[cfg.compare.metric.value]


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    return run_stage(cfg, train_stage)


if __name__ == "__main__":
    run_and_exit(main)
