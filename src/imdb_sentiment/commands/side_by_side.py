"""Read the final model beside its baselines on the same test reviews (McNemar's exact test).

DVC stage `side_by_side`: both protocols' test accuracy, and the notebook's choice against ours (McNemar's exact
test, the difference's 95 % interval); and this run's row of the results page's feature-set table
(reports/feature_sets/<features>.json, :mod:`imdb_sentiment.report.feature_sets`).
"""

from imdb_sentiment.baselines.paired import write_side_by_side
from imdb_sentiment.config.schema import Config
from imdb_sentiment.report.feature_sets import write_feature_set_record

CONFIG = "config"  # conf/config.yaml


def task(cfg: Config) -> dict:
    numbers = write_side_by_side(cfg)
    write_feature_set_record(cfg)
    return numbers
