"""An MLflow pyfunc model that takes raw review strings and returns probabilities and labels.

Logged as "models from code" (``text_model_entry.py``), so loading it unpickles nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from imdb_sentiment.predict import EncoderSettings, ReviewEncoder, predict_proba

ARTIFACTS = ("keras_model", "word_index", "settings")


def as_texts(model_input) -> list[str]:
    """Accept a DataFrame (first column), a Series, a list or an array of strings."""
    if isinstance(model_input, pd.DataFrame):
        values = model_input.iloc[:, 0].tolist()
    elif isinstance(model_input, (pd.Series, np.ndarray)):
        values = list(np.asarray(model_input).reshape(-1))
    else:
        values = list(model_input)
    bad = [i for i, value in enumerate(values) if not isinstance(value, str) or not value.strip()]
    if bad:
        raise ValueError(f"every input must be a non-empty review string; not at positions {bad[:10]}")
    return values


class ReviewTextModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        import keras

        settings = json.loads(Path(context.artifacts["settings"]).read_text())
        self.threshold = float(settings.pop("threshold"))
        self.encoder = ReviewEncoder.from_files(Path(context.artifacts["word_index"]), EncoderSettings(**settings))
        self.model = keras.models.load_model(context.artifacts["keras_model"], compile=False)

    def predict(self, context, model_input, params=None):
        probabilities = predict_proba(self.model, self.encoder.encode(as_texts(model_input)))
        return pd.DataFrame({"probability": probabilities.astype(np.float64),
                             "label": (probabilities >= self.threshold).astype(np.int64)})
