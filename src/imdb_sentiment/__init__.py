"""imdb-sentiment: the IMDB review classifier study as a tracked, reproducible pipeline."""

__version__ = "0.1.0"
