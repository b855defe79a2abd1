"""Train one model variant for every seed in trainer.seeds, each seed an MLflow run.

DVC stage `train@<variant>`. Each seed keeps its best epoch by `trainer.monitor`; the variant's models go to
models/variants/<variant>/, its numbers and per-epoch histories to reports/train/<variant>/, and MLflow gets a
parent run with a run per seed.

Examples (the same as python stages/train.py ...):
  imdb-sentiment train model=l1_3layer                           # one variant, the study's three seeds
  imdb-sentiment train model=l2_3layer trainer.seeds=[0] trainer.max_epochs=5
  imdb-sentiment train model=base_1layer trainer.fast_path=false      # stock Keras layers and optimizers
"""

from imdb_sentiment.config.schema import Config
from imdb_sentiment.runtime.quiet import import_keras

CONFIG = "config"  # conf/config.yaml


def task(cfg: Config) -> float:
    """Train the variant; return the seeds' mean of the metric compare ranks by."""
    from imdb_sentiment.model.fast_path import keras_backend  # torch: only once the config is valid

    import_keras(keras_backend(cfg.model, cfg.trainer))
    from imdb_sentiment.train.variants import train_variant

    metrics = train_variant(cfg)
    return metrics[cfg.compare.metric.value]
