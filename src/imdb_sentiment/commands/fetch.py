"""Download (or copy from IMDB_MIRROR) and verify the Keras IMDB files, then decode them.

DVC stage `fetch`. Examples (the same as python stages/fetch.py ...):
  imdb-sentiment fetch
  IMDB_MIRROR=/data/imdb imdb-sentiment fetch          # a local copy of the files instead of the download
"""

from pathlib import Path

from imdb_sentiment.config.schema import Config
from imdb_sentiment.data.fetch import fetch

CONFIG = "config"  # conf/config.yaml


def task(cfg: Config) -> None:
    fetch(cfg.data, Path(cfg.paths.raw_dir), Path(cfg.paths.sequences))
