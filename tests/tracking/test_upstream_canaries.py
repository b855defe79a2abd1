"""Canaries for the upstream bugs the project works around: each fails once upstream has fixed its bug."""

from __future__ import annotations

import keras
import mlflow
import numpy as np
import pytest

from imdb_sentiment.tracking.model_logging import model_requirements


def test_mlflow_16183_keras_log_model_with_an_input_example_still_fails(tmp_path):
    """The stock path that model_logging._save_keras_model replaces: MLflow 3.17's Keras flavour writes the
    input example before it creates the model folder."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")  # conftest restores the tracking URI
    experiment_id = mlflow.create_experiment("canary", artifact_location=(tmp_path / "artifacts").as_uri())
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    with mlflow.start_run(experiment_id=experiment_id):
        try:
            mlflow.keras.log_model(
                model, name="model", input_example=np.zeros((2, 4), np.float32), pip_requirements=model_requirements()
            )
        except FileNotFoundError as exc:
            assert "input_example" in str(exc) or "serving_input" in str(exc), exc
            return
    pytest.fail("upstream fixed mlflow#16183: drop the workaround in model_logging.py")
