"""DVC stage: multi-hot CSR float32 matrices (words, and bigrams if configured), labels, the bigram vocabulary,
the validation split and data statistics."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from imdb_sentiment.cli import run_and_exit, run_stage
from imdb_sentiment.config.schema import Config
from imdb_sentiment.data.features import vectorize
from imdb_sentiment.data.sequences import load_sequences
from imdb_sentiment.runtime.errors import DataError


def vectorize_stage(cfg: Config) -> None:
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


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_stage(cfg, vectorize_stage)


if __name__ == "__main__":
    run_and_exit(main)
