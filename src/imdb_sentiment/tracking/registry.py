"""The model registry: the raw-text model registered beside the Keras one, and the alias that moves on merit.

:func:`log_text_model` logs and registers the pyfunc that takes review text (loaded from code, unpickling
nothing); :func:`promote` moves ``@champion`` (``final.alias``) only to a version at least as accurate on
the test reviews as the one holding it, and :func:`promote_final` makes the text model follow.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from imdb_sentiment.config.schema import Config, FinalConfig
from imdb_sentiment.tracking.descriptions import version_description
from imdb_sentiment.tracking.model_logging import model_requirements

PACKAGE_ROOT = Path(__file__).parents[1]  # the whole imdb_sentiment package goes with the model as its code
TEXT_MODEL_ENTRY = PACKAGE_ROOT / "serve" / "text_model_entry.py"
TEXT_EXAMPLE = ["A wonderful, moving film with a brilliant cast.", "Dull, predictable and far too long."]


def log_text_model(
    keras_model_path: Path, word_index_path: Path, bigrams_path: Path, cfg: Config, scratch: Path, name: str
):
    """Log (as ``name``) and register the raw-text pyfunc model (models from code: loading it unpickles nothing),
    with the word index and bigram vocabulary the Keras model's columns were built from."""
    settings = {
        "num_words": cfg.data.num_words,
        "index_from": cfg.data.index_from,
        "start_char": cfg.data.start_char,
        "oov_char": cfg.data.oov_char,
        "threshold": cfg.final.threshold,
    }
    settings_path = scratch / "encoder_settings.json"
    settings_path.write_text(json.dumps(settings, indent=2))
    # No signature argument: MLflow infers it from ReviewTextModel.predict's type hints and validates input
    # against them (see text_model.py); a signature given here would be overridden, with a warning.
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(TEXT_MODEL_ENTRY),
        artifacts={
            "keras_model": str(keras_model_path),
            "word_index": str(word_index_path),
            "bigrams": str(bigrams_path),
            "settings": str(settings_path),
        },
        code_paths=[str(PACKAGE_ROOT)],
        input_example=TEXT_EXAMPLE,
        pip_requirements=[
            *model_requirements(),
            *(f"{name}=={metadata.version(name)}" for name in ("pandas", "pydantic", "scipy")),
        ],
        registered_model_name=cfg.final.text_model_name,
    )


def describe_versions(
    cfg: FinalConfig, variant: str, keras_version: str, text_version: str, accuracy: float, run_id: str
) -> None:
    """Give both new versions a description: the variant, its test accuracy and the run that made them."""
    client = MlflowClient()
    keras = version_description(variant, accuracy, run_id)
    client.update_model_version(cfg.registered_model_name, keras_version, description=keras)
    wraps = f"{cfg.registered_model_name} version {keras_version}"
    text = version_description(variant, accuracy, run_id, wraps=wraps)
    client.update_model_version(cfg.text_model_name, text_version, description=text)


def promote(client: MlflowClient, name: str, version: str, accuracy: float, alias: str) -> tuple[bool, str]:
    """Move ``alias`` to ``version`` only if its test accuracy is at least the current holder's."""
    client.set_model_version_tag(name, version, "test_accuracy", f"{accuracy:.6f}")
    try:
        current = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        current = None
    if current is not None and current.version == str(version):
        return True, f"{name} version {version} already holds @{alias}"
    current_accuracy = float(current.tags.get("test_accuracy", "nan")) if current is not None else float("nan")
    if current is None or np.isnan(current_accuracy) or accuracy >= current_accuracy:
        client.set_registered_model_alias(name, alias, version)
        before = "" if current is None else f" (was version {current.version}, test accuracy {current_accuracy:.4f})"
        return True, f"moved @{alias} of {name} to version {version}, test accuracy {accuracy:.4f}{before}"
    return False, (
        f"kept @{alias} of {name} on version {current.version} (test accuracy {current_accuracy:.4f}); "
        f"version {version} scored {accuracy:.4f}"
    )


def promote_final(cfg: FinalConfig, keras_version: str, text_version: str, accuracy: float) -> tuple[bool, str]:
    """:func:`promote` the Keras model; the text model that wraps it follows, so both aliases name one model."""
    client = MlflowClient()
    promoted, message = promote(client, cfg.registered_model_name, keras_version, accuracy, cfg.alias)
    if promoted:
        client.set_model_version_tag(cfg.text_model_name, text_version, "test_accuracy", f"{accuracy:.6f}")
        client.set_registered_model_alias(cfg.text_model_name, cfg.alias, text_version)
    return promoted, message
