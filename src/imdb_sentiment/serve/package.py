"""The raw-text model packaged for MLflow: the Keras model with the vocabulary its columns were built from.

Logged from code (``text_model_entry.py``), so loading it unpickles nothing; the whole ``imdb_sentiment``
package goes with it as its code. Registration is the register stage's (:mod:`imdb_sentiment.registry`).
"""

from __future__ import annotations

import json
import logging
from importlib import metadata
from pathlib import Path

import mlflow

from imdb_sentiment.config.schema import Config
from imdb_sentiment.serve.dense_stack import DenseStack, NotADenseStack
from imdb_sentiment.tracking.model_logging import model_requirements

log = logging.getLogger(__name__)

PACKAGE_ROOT = Path(__file__).parents[1]
TEXT_MODEL_ENTRY = Path(__file__).with_name("text_model_entry.py")
TEXT_EXAMPLE = ["A wonderful, moving film with a brilliant cast.", "Dull, predictable and far too long."]


def dense_stack_artifact(keras_model, scratch: Path) -> dict[str, str]:
    """The network's weights for the NumPy forward pass (:mod:`imdb_sentiment.serve.dense_stack`), so the text
    model scores without TensorFlow; none for a network it cannot do (the Keras model is used then)."""
    try:
        stack = DenseStack.from_keras(keras_model)
    except NotADenseStack as exc:
        log.warning("the text model will score with Keras (TensorFlow): %s", exc)
        return {}
    path = scratch / "dense_stack.npz"
    stack.save(path)
    return {"dense_stack": str(path)}


def log_text_model(
    keras_model,
    keras_model_path: Path,
    word_index_path: Path,
    bigrams_path: Path,
    cfg: Config,
    scratch: Path,
    name: str,
):
    """Log (as ``name``) the raw-text pyfunc model, with the word index and bigram vocabulary the Keras model's
    columns were built from, and its weights for scoring without TensorFlow."""
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
            **dense_stack_artifact(keras_model, scratch),
        },
        code_paths=[str(PACKAGE_ROOT)],
        input_example=TEXT_EXAMPLE,
        pip_requirements=[
            *model_requirements(),
            *(f"{name}=={metadata.version(name)}" for name in ("pandas", "pydantic", "scipy")),
        ],
    )
