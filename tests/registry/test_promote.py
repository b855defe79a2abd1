"""The registry's alias rule and version descriptions on a real (temporary) SQLite store."""

from __future__ import annotations

import mlflow
import pytest
from helpers.config import from_yaml

from imdb_sentiment.registry.promote import promote


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


def test_registered_versions_are_described_with_variant_accuracy_and_run(registry):
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
