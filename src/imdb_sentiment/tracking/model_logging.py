"""Logging a dense-input Keras model to MLflow: signature, input example, pinned requirements.

Holds the workaround for MLflow 3.17's Keras flavour, which writes the input example before it creates
the model folder (upstream mlflow#16183); the raw-text model in :mod:`imdb_sentiment.registry.promote` reuses the
requirements.
"""

from __future__ import annotations

import os
import types
from importlib import metadata

import mlflow
import numpy as np
from mlflow.models import Model, ModelSignature
from mlflow.types import Schema, TensorSpec

from imdb_sentiment.tracking.runs import note_logged


def model_requirements() -> list[str]:
    """Pinned requirements for a logged Keras model, given explicitly: MLflow infers them by reloading the model
    in a subprocess, which costs seconds a model (docs/performance.md)."""
    pins = []
    for names in (("keras",), ("tensorflow-cpu", "tensorflow")):
        for name in names:
            try:
                pins.append(f"{name}=={metadata.version(name)}")
                break
            except metadata.PackageNotFoundError:
                continue
    return pins


def dense_signature(num_words: int) -> ModelSignature:
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, num_words))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 1))]),
    )


def _save_keras_model(path: str, **kwargs) -> None:
    """``mlflow.keras.save_model`` into a folder that exists first.

    MLflow 3.17's Keras flavour writes the input example before creating the model folder, so
    ``mlflow.keras.log_model(..., input_example=...)`` fails with FileNotFoundError; creating the folder
    first keeps the example inside the logged model, where ``mlflow models`` tools look for it. Upstream:
    https://github.com/mlflow/mlflow/issues/16183 (drop this once a fixed release is pinned: the canary
    tests/tracking/test_upstream_canaries.py fails when the stock path starts working).
    """
    os.makedirs(path, exist_ok=True)
    kwargs.pop("validate_serving_input", None)  # an option of Model.log, which passes every option on
    mlflow.keras.save_model(path=path, **kwargs)


_KERAS_FLAVOR = types.SimpleNamespace(__name__="mlflow.keras", save_model=_save_keras_model)


def log_keras_model(
    model,
    num_words: int,
    input_example: np.ndarray,
    name: str,
    registered_model_name: str | None = None,
    run_id: str | None = None,
):
    """Log a dense-input Keras model as ``name`` (what it is: ``base_1layer-seed0``, ``final-base_1layer``) with
    its signature, an input example and pinned requirements, to the active run or to ``run_id``.

    MLflow's serving-input check is off: it reloads the model and runs Keras's ``predict`` on the example,
    which prints a progress bar and a TensorFlow error line on every stage. The tests load and serve logged
    models instead (tests/train/test_training.py, tests/tracking/test_team_server.py, tests/serve/test_text_model.py).
    """
    info = Model.log(
        artifact_path=None,
        name=name,
        flavor=_KERAS_FLAVOR,
        model=model,
        signature=dense_signature(num_words),
        input_example=input_example.astype(np.float32),
        pip_requirements=model_requirements(),
        registered_model_name=registered_model_name,
        validate_serving_input=False,
        run_id=run_id,
    )
    note_logged(f"the model '{name}'")
    return info
