"""Build the multi-hot float32 matrices, labels and validation split (and bigrams, if configured).

DVC stage `vectorize`: CSR matrices of the words (and the training split's bigrams), the bigram vocabulary, the
validation split and data statistics.
"""

from pathlib import Path

from imdb_sentiment.config.schema import Config
from imdb_sentiment.data.features import vectorize
from imdb_sentiment.data.sequences import load_sequences
from imdb_sentiment.runtime.errors import DataError

CONFIG = "config"  # conf/config.yaml


def task(cfg: Config) -> None:
    splits, num_words = load_sequences(Path(cfg.paths.sequences))
    if num_words != cfg.data.num_words:
        raise DataError(
            f"sequences were decoded with num_words={num_words}, config says "
            f"data.num_words={cfg.data.num_words}: re-run the fetch stage (dvc repro fetch)"
        )
    vectorize(
        splits,
        num_words,
        cfg.features,
        cfg.data.index_from,
        Path(cfg.paths.processed_dir),
        Path(cfg.paths.data_stats),
    )
