"""Read the final model beside its baselines on the same test reviews (McNemar's exact test).

DVC stage `side_by_side`: both protocols' test accuracy, and the notebook's choice against ours (McNemar's exact
test, the difference's 95 % interval).
"""

from imdb_sentiment.baselines.paired import write_side_by_side

CONFIG = "config"  # conf/config.yaml
task = write_side_by_side
