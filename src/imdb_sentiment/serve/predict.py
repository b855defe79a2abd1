"""The predict command: score raw reviews with the registry's champion model (or the last retrained one).

The reviews are read and checked by :mod:`imdb_sentiment.serve.review_input` before any model is loaded, so bad
input fails fast; they are encoded by the champion's own :class:`~imdb_sentiment.data.text.ReviewEncoder` and
scored by its NumPy forward pass (:mod:`imdb_sentiment.serve.dense_stack`); only a Keras model named with
``model_uri=`` (or the fallback on disk) imports TensorFlow.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from imdb_sentiment.config.schema import PredictOutput
from imdb_sentiment.data.features import BIGRAMS
from imdb_sentiment.data.text import EncoderSettings, ReviewEncoder
from imdb_sentiment.runtime.errors import DataError, TrackingError, first_line
from imdb_sentiment.runtime.quiet import import_tensorflow
from imdb_sentiment.serve.dense_stack import probabilities
from imdb_sentiment.serve.review_input import read_reviews

log = logging.getLogger(__name__)


def load_champion(cfg) -> tuple[object, ReviewEncoder, str]:
    """The Keras model to score with, the encoder that builds its columns, and where the model came from.

    By default the registry's champion text model: its word index and bigram vocabulary travel with it, so
    a champion trained on other features (say bigrams, from a DVC experiment) still reads text as it was
    trained to. ``model_uri`` names a Keras model instead, encoded with the configured features; with
    neither, the last retrained model on disk, which the workspace's own vocabulary built.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from imdb_sentiment.tracking.store import read_store

    if cfg.model_uri:
        return keras_with_configured_features(cfg, cfg.model_uri)
    uri = f"models:/{cfg.final.text_model_name}@{cfg.final.alias}"
    try:
        read_store(cfg.tracking)
        # MLflow's load-time warnings (another Python, another SciPy than the training run's) do not apply to a
        # NumPy forward pass from code (no pickle), and would print on every call: suppress_warnings
        text_model = mlflow.pyfunc.load_model(uri, suppress_warnings=True).unwrap_python_model()
        return text_model.model, text_model.encoder, uri
    except (MlflowException, OSError, TrackingError) as exc:
        fallback = Path(cfg.paths.final_models) / "model.keras"
        if not fallback.is_file():
            raise DataError(
                f"no model: {uri} cannot be loaded ({first_line(exc)}) and {fallback} "
                f"does not exist; run the pipeline first (dvc repro), or set MLFLOW_TRACKING_URI to the project's "
                f"store (sqlite:////path/to/project/mlflow.db, or its server)"
            ) from exc
        log.warning("%s cannot be loaded (%s); using %s", uri, first_line(exc), fallback)
        return keras_with_configured_features(cfg, str(fallback))


def keras_with_configured_features(cfg, uri: str) -> tuple[object, ReviewEncoder, str]:
    """A Keras model that carries no vocabulary, read with the configured features: they must give its width.

    (The champion text model needs no such check: its encoder is the one it was trained with.)
    """
    model, encoder = load_keras(uri), configured_encoder(cfg)
    if model.input_shape[-1] != encoder.width:
        raise DataError(
            f"{uri} takes {model.input_shape[-1]} columns but features={cfg.features.name} makes "
            f"{encoder.width}: choose the features the model was trained on"
        )
    return model, encoder, uri


def load_keras(uri: str):
    """A Keras model from an MLflow URI (models:/, runs:/) or a .keras file, or a DataError naming it."""
    import_tensorflow()  # only for a Keras model: TensorFlow takes seconds to load
    import keras
    import mlflow

    keras.utils.disable_interactive_logging()
    try:
        if Path(uri).is_file():
            return keras.models.load_model(uri, compile=False)
        return mlflow.keras.load_model(uri)
    except Exception as exc:  # Keras and MLflow raise ValueError, OSError, zipfile errors… for a bad model
        raise DataError(
            f"{uri} cannot be loaded ({type(exc).__name__}: {first_line(exc)[:200]}); "
            f"restore it with `dvc checkout` or `dvc repro final`, or name another model with model_uri="
        ) from exc


def preview(review: str, width: int = 70) -> str:
    """The review's start on one line of the table: tabs and line-breaking characters (U+0085, U+2028…)
    would split its row or its columns, so every run of whitespace becomes one space."""
    flat = " ".join(review.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def sentiment(label: int) -> str:
    """The label's name, as the predict command prints it and the served text model returns it."""
    return "positive" if label else "negative"


def configured_encoder(cfg) -> ReviewEncoder:
    """The encoder of the configured data and features: the vectorize stage's bigram vocabulary if any."""
    settings = EncoderSettings(cfg.data.num_words, cfg.data.index_from, cfg.data.start_char, cfg.data.oov_char)
    bigrams = Path(cfg.paths.processed_dir) / BIGRAMS if cfg.features.bigrams or cfg.features.trigrams else None
    return ReviewEncoder.from_files(Path(cfg.paths.raw_dir) / cfg.data.word_index_file, settings, bigrams)


NO_KNOWN_WORD = "no known word"  # the label of a review the model cannot score
FEW_KNOWN_WORDS = "few known words"  # scored, but on under min_known_share of its words


def some_lines(lines: list[int]) -> str:
    return ", ".join(map(str, lines[:10])) + (", ..." if len(lines) > 10 else "")


def print_table(source: str, results: list) -> None:
    print(f"# model: {source}")
    print("line\tprobability\tlabel\tknown_words\treview")
    for line, probability, label, share, review in results:
        shown = ("-", NO_KNOWN_WORD) if label is None else (f"{probability:.4f}", sentiment(label))
        print(f"{line}\t{shown[0]}\t{shown[1]}\t{share:.0%}\t{preview(review)}")


def print_json(source: str, cfg, results: list, few_words: set[int]) -> None:
    """One JSON document: the model, the settings that decide a label, and per review its input line, score,
    label (null when no word is known), known-word share and a warning (no known word; few, under
    ``min_known_share``; or null)."""
    reviews = [
        {
            "line": line,
            "probability": probability,
            "label": label,
            "sentiment": None if label is None else sentiment(label),
            "known_words": round(share, 4),
            "warning": NO_KNOWN_WORD if label is None else (FEW_KNOWN_WORDS if line in few_words else None),
        }
        for line, probability, label, share, _ in results
    ]
    settings = {"threshold": cfg.final.threshold, "min_known_share": cfg.min_known_share}
    json.dump({"model": source, **settings, "reviews": reviews}, sys.stdout, indent=1)
    print()


def predict_reviews(cfg) -> list[tuple[int, float | None, int | None, float, str]]:
    """The predict command: score each review; print and return its input line, probability, label, the share
    of its words the model knows, and the review (the printed review cut to its start). A review with no word
    the model knows gets no score; one with few (under ``min_known_share``) gets its score and a warning."""
    reviews = read_reviews(cfg.text, cfg.file, cfg.max_reviews, cfg.max_review_chars)
    model, encoder, source = load_champion(cfg)  # the champion scores in NumPy: no TensorFlow
    encoded, shares = encoder.encode_counted([review for _, review in reviews])
    scores, known = probabilities(model, encoded), encoder.known_rows(encoded)
    results = [
        (line, float(p), int(p >= cfg.final.threshold), share, review) if scored else (line, None, None, share, review)
        for p, scored, share, (line, review) in zip(scores, known, shares, reviews, strict=True)
    ]
    few_words = {line for line, _, _, share, _ in results if share < cfg.min_known_share}
    if cfg.output is PredictOutput.json:
        print_json(source, cfg, results, few_words)
    else:
        print_table(source, results)
    unscored = [line for line, _, label, _, _ in results if label is None]
    if unscored:
        log.warning(
            "not scored, no word of the model's vocabulary in them: %d review(s), line(s) %s",
            len(unscored),
            some_lines(unscored),
        )
    few = [(line, share) for line, _, label, share, _ in results if label is not None and line in few_words]
    if few:
        log.warning(
            "scored on few words: under %.0f%% of the words are known to the model in %d review(s), line(s) %s "
            "(known: %s); another language or gibberish scores near the model's bias",
            100 * cfg.min_known_share,
            len(few),
            some_lines([line for line, _ in few]),
            ", ".join(f"{share:.0%}" for _, share in few[:10]),
        )
    return results
