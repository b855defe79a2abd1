"""Score new reviews with the champion model: a probability and a label per review.

Reads one review, or a file of them (one per line, UTF-8; - for standard input), and prints a table on stdout
(--json: one JSON document). The model is the champion text model, models:/<final.text_model_name>@<final.alias>
from MLflow's registry (MLFLOW_TRACKING_URI, else the project's mlflow.db), encoding text with the vocabulary it
was trained on; in the project folder, models/final/model.keras if the registry has none. Runs from any folder.

Examples:
  imdb-sentiment predict "A wonderful, moving film"        # python stages/predict.py text="A wonderful, ..."
  imdb-sentiment predict --file reviews.txt --json         # python stages/predict.py file=reviews.txt output=json
  cat reviews.txt | imdb-sentiment predict --file -        # standard input
"""

from __future__ import annotations

import argparse
import re

from imdb_sentiment.config.schema import PredictAppConfig

CONFIG = "predict"  # conf/predict.yaml
FREE_TEXT = ("text", "file")  # values Hydra must take literally (cli.quote_free_text)
RUNS_ANYWHERE = True  # it reads a model from the registry: no project folder needed

HYDRA_OVERRIDE = re.compile(r"^[+~]{0,2}[\w.@/-]+=")  # key=value, +key=value, ~key=, ++key=value
HYDRA_FLAGS_WITH_VALUES = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn"}


def overrides(args: list[str]) -> list[str]:
    """``imdb-sentiment predict``'s own options as Hydra overrides: a review (one quoted argument), ``--file
    PATH`` and ``--json``; overrides (``key=value``) and Hydra's flags (``--help``) pass through unchanged."""
    parser = argparse.ArgumentParser(prog="imdb-sentiment predict", add_help=False, allow_abbrev=False)
    parser.add_argument("--file")
    parser.add_argument("--json", action="store_true")
    known, rest = parser.parse_known_args(args)
    passed, reviews = [], []
    values_for = None
    for arg in rest:
        if values_for or arg.startswith("-") or HYDRA_OVERRIDE.match(arg):
            passed.append(arg)
            values_for = arg in HYDRA_FLAGS_WITH_VALUES
        else:
            reviews.append(arg)
    if len(reviews) > 1 or (reviews and known.file is not None):
        parser.error('give one review, in quotes ("Great film"), or --file FILE for many')
    return [
        *([f"text={reviews[0]}"] if reviews else []),
        *([f"file={known.file}"] if known.file is not None else []),
        *(["output=json"] if known.json else []),
        *passed,
    ]


def task(cfg: PredictAppConfig) -> None:
    from imdb_sentiment.serve.predict import predict_reviews  # the champion scores without TensorFlow

    predict_reviews(cfg)
