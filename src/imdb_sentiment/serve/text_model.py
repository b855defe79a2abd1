"""An MLflow pyfunc model that takes raw review strings and returns probabilities, labels and their names.

Logged as "models from code" (``text_model_entry.py``), so loading it unpickles nothing.

Input checking is MLflow's own first: ``predict``'s ``list[str]`` type hint becomes the signature, and
MLflow 3.17 then checks every input against it before ``predict`` runs, in process and when served, and
refuses null, numbers, lists, objects and any payload other than ``{"inputs": [...]}`` with an HTTP 400.
A plain string-column signature instead would convert null and numbers to the strings "None" and "123"
before ``predict`` saw them. ``predict`` itself refuses the strings that are not reviews (empty, blank),
naming their position.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pydantic
from mlflow.exceptions import MlflowException

from imdb_sentiment.data.text import EncoderSettings, ReviewEncoder
from imdb_sentiment.serve.dense_stack import DenseStack, probabilities
from imdb_sentiment.serve.predict import sentiment

ARTIFACTS = ("keras_model", "word_index", "bigrams", "settings")
UNSCORED = "not scored: no word of the review is in the model's vocabulary"


class ReviewScore(pydantic.BaseModel):
    """One review's answer; ``predict``'s return type hint, so the logged signature names these fields. A review
    with no word the model knows gets no probability or label, and a note that says why."""

    probability: float | None = None
    label: int | None = None
    sentiment: str
    known_words: float  # the share of the review's words the model knows (few: the score rests on them)
    note: str | None = None


def checked_reviews(reviews: list[str]) -> list[str]:
    """The reviews, or an MlflowException (HTTP 400) whose one-line message names the first blank one, or
    says that there is none."""
    if len(reviews) == 0:
        raise MlflowException.invalid_parameter_value('no review to score: give {"inputs": ["a review", ...]}')
    for position, review in enumerate(reviews):
        if not review.strip():
            raise MlflowException.invalid_parameter_value(
                f"inputs[{position}] is not a review: {json.dumps(review)[:40]}; every input must be a non-empty string"
            )
    return reviews


def scorer(artifacts: dict[str, str]):
    """The network as NumPy (no TensorFlow) when the model carries its weights so; a text model logged before
    that scores with its Keras model."""
    if "dense_stack" in artifacts:
        return DenseStack.load(Path(artifacts["dense_stack"]))
    import keras

    return keras.models.load_model(artifacts["keras_model"], compile=False)


class ReviewTextModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        settings = json.loads(Path(context.artifacts["settings"]).read_text())
        self.threshold = float(settings.pop("threshold"))
        bigrams = context.artifacts.get("bigrams")  # absent from text models logged before bigram features
        self.encoder = ReviewEncoder.from_files(
            Path(context.artifacts["word_index"]), EncoderSettings(**settings), Path(bigrams) if bigrams else None
        )
        self.model = scorer(context.artifacts)

    def predict(self, context, model_input: list[str], params=None) -> list[ReviewScore]:
        encoded, shares = self.encoder.encode_counted(checked_reviews(model_input))
        scores, known = probabilities(self.model, encoded), self.encoder.known_rows(encoded)
        labels = (scores >= self.threshold).astype(np.int64)
        return [
            ReviewScore(probability=float(p), label=int(label), sentiment=sentiment(label), known_words=share)
            if scored
            else ReviewScore(sentiment="unknown", known_words=share, note=UNSCORED)
            for p, label, scored, share in zip(scores, labels, known, shares.tolist(), strict=True)
        ]
