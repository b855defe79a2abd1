"""Test-set metrics, compare's winner overrides, and the registry's alias rule on a real (temporary) SQLite store."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from imdb_sentiment.config.choice import winner_overrides
from imdb_sentiment.config.schema import Loss
from imdb_sentiment.model.evaluate import binary_metrics, roc_auc, roc_curve
from imdb_sentiment.registry.promote import promote


def test_metrics_on_a_known_example():
    y = np.array([1, 1, 0, 0, 1, 0], dtype=np.float32)
    prob = np.array([0.9, 0.4, 0.6, 0.1, 0.8, 0.3], dtype=np.float32)
    metrics = binary_metrics(y, prob, 0.5, Loss.mse)
    # predicted 1,0,1,0,1,0: TP 2, FN 1, FP 1, TN 2
    assert metrics["test_accuracy"] == pytest.approx(4 / 6)
    assert metrics["test_precision"] == pytest.approx(2 / 3) and metrics["test_recall"] == pytest.approx(2 / 3)
    assert metrics["test_f1"] == pytest.approx(2 / 3)
    assert metrics["test_roc_auc"] == pytest.approx(8 / 9)  # 8 of 9 positive-negative pairs ordered right
    assert metrics["test_loss"] == pytest.approx(np.mean((prob - y) ** 2))
    bce = binary_metrics(y, prob, 0.5, Loss.binary_crossentropy)["test_loss"]
    assert bce == pytest.approx(-np.mean(y * np.log(prob) + (1 - y) * np.log(1 - prob)), rel=1e-5)


def test_auc_counts_ties_as_half_and_roc_curve_spans_the_square():
    y = np.array([1, 0, 1, 0])
    prob = np.array([0.5, 0.5, 0.9, 0.1])
    assert roc_auc(y, prob) == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    fpr, tpr = roc_curve(y, prob)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_metrics_match_their_definitions_on_random_scores_and_are_zero_or_nan_where_undefined():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.4).astype(np.float32)
    prob = np.round(rng.random(300), 2).astype(np.float32)  # rounded: many ties
    metrics = binary_metrics(y, prob, 0.5, Loss.mse)
    positives, negatives = prob[y == 1], prob[y == 0]
    pairs = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    assert metrics["test_roc_auc"] == pytest.approx(pairs.mean(), abs=1e-12)
    precision, recall = metrics["test_precision"], metrics["test_recall"]
    assert metrics["test_f1"] == pytest.approx(2 * precision * recall / (precision + recall), abs=1e-12)
    nothing_predicted = binary_metrics(y, np.zeros_like(prob), 0.5, Loss.mse)
    assert [nothing_predicted[f"test_{name}"] for name in ("precision", "recall", "f1")] == [0, 0, 0]
    assert np.isnan(binary_metrics(np.ones(4), np.full(4, 0.7), 0.5, Loss.mse)["test_roc_auc"])


def test_winner_overrides_replace_any_model_choice():
    assert winner_overrides(["model=base_1layer", "trainer.seeds=[0]", "model.units=8"], "l2_3layer") == [
        "trainer.seeds=[0]",
        "model.units=8",
        "model=l2_3layer",
    ]
    assert winner_overrides(["trainer.seeds=[0]", "model=x"], "l2_3layer") == ["trainer.seeds=[0]", "model=l2_3layer"]


@pytest.fixture
def registry(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_id="0")  # the new store's default: an earlier test may have set another
    client = mlflow.MlflowClient(uri)
    client.create_registered_model("m")
    return client


def new_version(client) -> str:
    with mlflow.start_run() as run:
        mlflow.log_text("x", "weights.txt")
    return client.create_model_version("m", f"{run.info.artifact_uri}/weights.txt", run.info.run_id).version


def test_alias_moves_only_when_accuracy_is_at_least_the_champions(registry):
    first = new_version(registry)
    moved, message = promote(registry, "m", first, 0.86, "champion")
    assert moved and registry.get_model_version_by_alias("m", "champion").version == first
    worse = new_version(registry)
    moved, message = promote(registry, "m", worse, 0.85, "champion")
    assert not moved and "kept @champion" in message
    assert registry.get_model_version_by_alias("m", "champion").version == first
    equal = new_version(registry)
    moved, message = promote(registry, "m", equal, 0.86, "champion")
    assert moved and f"was version {first}" in message
    assert registry.get_model_version_by_alias("m", "champion").version == equal
    assert registry.get_model_version("m", worse).tags["test_accuracy"] == "0.850000"


def test_the_test_split_is_logged_as_a_testing_input_with_its_own_digest(registry):
    from types import SimpleNamespace

    from test_config import yaml_config

    from imdb_sentiment.tracking.datasets import log_dataset, log_test_dataset

    digests = {"train": "a" * 64, "test": "b" * 64}
    manifest = SimpleNamespace(digest="c" * 64, split_digests=digests, rows={"train": 40, "test": 30}, width=30)
    with mlflow.start_run() as run:
        log_dataset(yaml_config(), manifest, "training")
        test_split = log_test_dataset(yaml_config(), manifest)
        mlflow.log_metrics({"test_accuracy": 0.9}, dataset=test_split)
    inputs = registry.get_run(run.info.run_id).inputs.dataset_inputs
    contexts = {i.dataset.name: {t.key: t.value for t in i.tags}["mlflow.data.context"] for i in inputs}
    assert contexts == {"imdb-multihot-30": "training", "imdb-multihot-30-test": "testing"}
    [test_input] = [i for i in inputs if i.dataset.name.endswith("-test")]
    assert test_input.dataset.digest == "b" * 32


def test_registered_versions_are_described_with_variant_accuracy_and_run(registry):
    from test_config import from_yaml

    from imdb_sentiment.registry.promote import describe_versions

    registry.create_registered_model("m-text")
    keras_version = new_version(registry)
    with mlflow.start_run() as run:
        mlflow.log_text("x", "weights.txt")
    text_version = registry.create_model_version("m-text", f"{run.info.artifact_uri}/weights.txt", run.info.run_id)
    final = from_yaml("final", registered_model_name="m", text_model_name="m-text")
    describe_versions(final, "l2_3layer", keras_version, text_version.version, 0.8812, run.info.run_id)
    keras = registry.get_model_version("m", keras_version).description
    text = registry.get_model_version("m-text", text_version.version).description
    for description in (keras, text):
        assert "l2_3layer" in description and "0.8812" in description and run.info.run_id in description
    assert f"m version {keras_version}" in text
