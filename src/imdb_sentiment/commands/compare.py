"""Compare the trained variants and choose the one to retrain, with the reason in words.

DVC stage `compare`."""

from imdb_sentiment.compare.summary import compare_variants

CONFIG = "config"  # conf/config.yaml
task = compare_variants
