"""The raw-text model MLflow serves: only non-empty review strings are scored, junk is a one-line HTTP 400."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from helpers.config import from_yaml, yaml_config
from helpers.serving import post, served
from helpers.text import SETTINGS, WORDS, tiny_keras_model


def test_text_model_predict_is_type_hinted_so_mlflow_validates_its_input():
    """MLflow warns "Add type hints to the `predict` method" for an unhinted predict (once per process, when
    the class is defined, so in the final stage too); with the hint it checks every input against it."""
    code = "import warnings; warnings.simplefilter('always'); import imdb_sentiment.serve.text_model"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Add type hints" not in result.stderr and "Warning" not in result.stderr, result.stderr


JUST_BRILLIANT = (WORDS["just"] + 3, WORDS["brilliant"] + 3)  # the one bigram column, 1000


def bigram_model(path: Path) -> None:
    """A model on 1,000 words + 1 bigram whose only weight is on the bigram "just brilliant": it scores
    sigmoid(5) when the two words are neighbours in that order, 0.5 otherwise."""
    import keras

    model = tiny_keras_model(SETTINGS.num_words + 1)
    kernel = np.zeros((SETTINGS.num_words + 1, 1), dtype=np.float32)
    kernel[SETTINGS.num_words] = 5.0
    model.layers[-1].set_weights([kernel, np.zeros(1, dtype=np.float32)])
    keras.models.save_model(model, path)


@pytest.fixture(scope="module")
def logged_text_model(tmp_path_factory):
    """A tiny text model logged with log_text_model into a throw-away SQLite store and registered as the
    register stage does: (store uri, model info, registered version)."""
    import dataclasses

    from imdb_sentiment.data.bigrams import BigramVocabulary
    from imdb_sentiment.registry.promote import register_version
    from imdb_sentiment.serve.package import log_text_model

    folder = tmp_path_factory.mktemp("text_model")
    bigram_model(folder / "model.keras")
    import keras

    keras_model = keras.models.load_model(folder / "model.keras")
    (folder / "imdb_word_index.json").write_text(json.dumps(WORDS))
    BigramVocabulary(np.array([JUST_BRILLIANT]), np.array([1]), SETTINGS.num_words).save(folder / "bigrams.npz")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("text-model", artifact_location=str(folder / "artifacts"))
    cfg = dataclasses.replace(yaml_config(), data=from_yaml("data", base_url="-", num_words=SETTINGS.num_words))
    with mlflow.start_run(experiment_id=experiment) as run:
        info = log_text_model(
            keras_model,
            folder / "model.keras",
            folder / "imdb_word_index.json",
            folder / "bigrams.npz",
            cfg,
            folder,
            "final-t-text",
        )
    version = register_version(info.model_uri, cfg.final.text_model_name, run.info.run_id)
    return uri, info, version


@pytest.mark.slow
def test_logged_signature_comes_from_the_type_hints_and_names_the_output_fields(logged_text_model):
    signature = logged_text_model[1].signature
    assert signature.inputs.to_dict() == [{"type": "string", "required": True}]
    assert signature.outputs.to_dict()[0]["properties"] == {
        "probability": {"type": "double", "required": False},  # none for a review with no known word
        "label": {"type": "long", "required": False},
        "sentiment": {"type": "string", "required": True},
        "known_words": {"type": "double", "required": True},  # the share of its words the model knows
        "note": {"type": "string", "required": False},
    }


@pytest.mark.slow
def test_predict_reads_text_with_the_champions_vocabulary_not_the_configured_features(logged_text_model, tmp_path):
    """A champion trained on bigrams (say in a DVC experiment) scores text with its own bigrams, even when
    the configured features are the words alone and no word index is on disk."""
    from types import SimpleNamespace

    from imdb_sentiment.config.schema import PredictOutput
    from imdb_sentiment.serve.predict import predict_reviews

    uri, _, version = logged_text_model
    final = from_yaml("final")
    mlflow.MlflowClient(uri).set_registered_model_alias(final.text_model_name, final.alias, version)
    cfg = SimpleNamespace(
        text="The film was just brilliant.",
        file=None,
        max_reviews=10,
        max_review_chars=1000,
        min_known_share=0.5,
        output=PredictOutput.table,
        model_uri=None,
        data=from_yaml("data", base_url="-", num_words=SETTINGS.num_words),
        features=from_yaml("features"),
        paths=from_yaml("paths", raw_dir=str(tmp_path / "nothing"), final_models=str(tmp_path / "nothing")),
        final=final,
        tracking=from_yaml("tracking", uri=uri),
    )
    assert cfg.features.bigrams == 0
    [(_, probability, label, share, _)] = predict_reviews(cfg)
    assert round(probability, 4) == round(1 / (1 + np.exp(-5.0)), 4) and label == 1 and share == 1.0


@pytest.mark.slow
def test_the_text_model_scores_in_numpy_without_importing_tensorflow(logged_text_model):
    """What predict and the server do, in a fresh process: load the champion text model and score a review."""
    uri, info, _ = logged_text_model
    code = (
        "import sys, mlflow; "
        f"mlflow.set_tracking_uri({uri!r}); "
        f"model = mlflow.pyfunc.load_model({info.model_uri!r}); "
        "score = model.predict(['the film was just brilliant'])[0]; "
        "print(type(model.unwrap_python_model().model).__name__, round(score.probability, 4), "
        "'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["DenseStack", str(round(1 / (1 + np.exp(-5.0)), 4)), "False", "False"]


@pytest.fixture(scope="module")
def server(logged_text_model):
    uri, info, _ = logged_text_model
    with served(info.model_uri, uri) as url:
        yield url


@pytest.mark.slow
def test_served_text_model_scores_review_strings_with_label_names(server):
    from imdb_sentiment.serve.predict import sentiment

    reviews = ["the film was just brilliant", "zyxxy\x85casting", "brilliant, just", "zyxxy qwerty"]
    status, body = post(server, {"inputs": reviews})
    assert status == 200, body
    scored, glued, reversed_words, unknown = body["predictions"]
    predictions = [scored, reversed_words]
    # the bigram column is set from the raw text: "just brilliant" in that order, not the same words reversed
    assert [round(p["probability"], 4) for p in predictions] == [round(1 / (1 + np.exp(-5.0)), 4), 0.5]
    # no word the model knows ("zyxxy\x85casting" is one word: U+0085 is no separator): no score, which would be
    # the model's bias alone, but a note that says so
    for p in (glued, unknown):
        assert p.get("probability") is None and p.get("label") is None and p["sentiment"] == "unknown"
        assert "no word of the review is in the model's vocabulary" in p["note"]
    assert [p["known_words"] for p in body["predictions"]] == [1.0, 0.0, 1.0, 0.0]
    for p in predictions:
        assert isinstance(p["probability"], float) and 0 <= p["probability"] <= 1
        assert p["label"] == int(p["probability"] >= 0.5) and p["sentiment"] == sentiment(p["label"])


# payload -> what the one-line reason must contain
JUNK = {
    "null": ({"inputs": [None]}, "Expected type str, but got NoneType"),
    "number": ({"inputs": ["fine", 123]}, "Expected type str, but got int"),
    "list": ({"inputs": [["a", "b"]]}, "Expected type str, but got list"),
    "object": ({"inputs": [{"a": "x", "b": "y"}]}, "Expected type str, but got dict"),
    "two-column inputs": ({"inputs": {"a": ["x"], "b": ["y"]}}, "Expected list, but got dict"),
    "two-column dataframe_split": (
        {"dataframe_split": {"columns": ["a", "b"], "data": [["x", "y"]]}},
        "must be a dictionary with 'inputs' key",
    ),
    "empty string": ({"inputs": [""]}, 'inputs[0] is not a review: ""; every input must be a non-empty string'),
    "blank string": ({"inputs": ["good film", "  "]}, 'inputs[1] is not a review: "  "; every input must be a'),
    "no input": ({"inputs": []}, "no review to score"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", JUNK)
def test_served_text_model_refuses_junk_with_a_one_line_reason(server, name):
    payload, reason = JUNK[name]
    status, body = post(server, payload)
    assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE", body
    assert "stack_trace" not in body and "Traceback" not in body["message"], body
    # MLflow puts "Failed to predict data '<the input>'. \nError: " before a reason raised during predict
    explanation = body["message"].split("\nError: ")[-1]
    assert "\n" not in explanation and reason in explanation, body["message"]
