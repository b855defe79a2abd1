"""The models-from-code entry point MLflow runs to build the text model (see text_model.py)."""

import mlflow.models

from imdb_sentiment.serve.text_model import ReviewTextModel

mlflow.models.set_model(ReviewTextModel())
