"""The commands a user runs, one module each: a docstring (the command's ``--help``), ``CONFIG`` (the Hydra
config it composes from conf/) and ``task(cfg)`` (its work, given the validated config).

``imdb-sentiment <command>`` and ``python stages/<command>.py`` both run them through :mod:`imdb_sentiment.cli`,
which validates the config and turns expected failures into one-line errors.
"""

PIPELINE = ("fetch", "vectorize", "train", "compare", "final", "baselines", "side_by_side", "register", "report")
TOOLS = ("predict", "sweep")  # not DVC stages
