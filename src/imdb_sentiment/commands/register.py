"""Register the final models in MLflow's Model Registry; move @champion only on merit.

DVC stage `register`: registers the final run's Keras and raw-text models, and moves @champion (final.alias) of
both to the new versions only if their test accuracy is at least the holder's.
"""

from imdb_sentiment.registry.promote import register_final

CONFIG = "config"  # conf/config.yaml
task = register_final
