"""Score new reviews with the champion model: a probability and a label per review.

Reads `text=...` or `file=...` (one review per line, UTF-8) and prints a table on stdout. The model is the
champion text model, models:/<final.text_model_name>@<final.alias> from MLflow's registry, encoding text with
the vocabulary it was trained on; else models/final/model.keras.

Examples:
  python stages/predict.py text="A wonderful, moving film"
  python stages/predict.py file=reviews.txt
  cat reviews.txt | python stages/predict.py file=-      # standard input
  python stages/predict.py file=reviews.txt model_uri=models/final/model.keras final.threshold=0.7
"""

import sys

import hydra
from omegaconf import DictConfig

from imdb_sentiment.cli import quote_free_text, run_and_exit, run_stage
from imdb_sentiment.config.schema import PredictAppConfig


def predict_stage(cfg: PredictAppConfig) -> None:
    from imdb_sentiment.serve.predict import predict_reviews  # TensorFlow loads only once the config is valid

    predict_reviews(cfg)


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    run_stage(cfg, predict_stage)


if __name__ == "__main__":
    sys.argv[1:] = quote_free_text(sys.argv[1:], keys=("text", "file"))
    run_and_exit(main)
