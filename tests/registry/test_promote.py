"""The registry's alias rule and version descriptions on a real (temporary) SQLite store."""

from __future__ import annotations

import os
import signal

import mlflow
import pytest
from helpers.config import from_yaml
from mlflow.exceptions import MlflowException

from imdb_sentiment.registry.promote import move_together, promote
from imdb_sentiment.runtime import signals
from imdb_sentiment.runtime.errors import OutputError


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


@pytest.fixture
def two_models(registry):
    """Models "m" and "m-text" with @champion on version 1 of each, and a version 2 of each to promote."""
    registry.create_registered_model("m-text")

    def version_of(name: str) -> str:
        with mlflow.start_run() as run:
            mlflow.log_text("x", "weights.txt")
        return registry.create_model_version(name, f"{run.info.artifact_uri}/weights.txt", run.info.run_id).version

    for name in ("m", "m-text"):
        registry.set_registered_model_alias(name, "champion", version_of(name))
    return registry, {name: str(version_of(name)) for name in ("m", "m-text")}


def champions(client) -> dict[str, str]:
    return {name: str(client.get_model_version_by_alias(name, "champion").version) for name in ("m", "m-text")}


def test_both_aliases_move_and_the_record_is_written_together(two_models):
    client, new = two_models
    written = []
    move_together(client, "champion", new, lambda: written.append("record"))
    assert champions(client) == new and written == ["record"]


def test_a_failure_on_the_way_puts_every_moved_alias_back(two_models, monkeypatch):
    client, new = two_models
    real = client.set_registered_model_alias

    def fails_for_the_text_model(name, alias, version):
        if name == "m-text":
            raise MlflowException("the store went away")
        real(name, alias, version)

    monkeypatch.setattr(client, "set_registered_model_alias", fails_for_the_text_model)
    with pytest.raises(MlflowException):
        move_together(client, "champion", new, lambda: None)
    monkeypatch.undo()
    assert champions(client) == {"m": "1", "m-text": "1"}


def test_a_record_that_cannot_be_written_puts_both_aliases_back(two_models):
    client, new = two_models

    def disk_full() -> None:
        raise OutputError("cannot write reports/registry.json: No space left on device")

    with pytest.raises(OutputError):
        move_together(client, "champion", new, disk_full)
    assert champions(client) == {"m": "1", "m-text": "1"}


def test_a_signal_between_the_two_moves_undoes_the_first_and_is_raised(two_models, monkeypatch):
    client, new = two_models
    real = client.set_registered_model_alias
    previous = signal.getsignal(signal.SIGTERM)
    signals.install()

    def signalled_after_the_first(name, alias, version):
        real(name, alias, version)
        os.kill(os.getpid(), signal.SIGTERM)  # deferred: recorded, not raised inside the store call

    monkeypatch.setattr(client, "set_registered_model_alias", signalled_after_the_first)
    try:
        with pytest.raises(signals.Terminated):
            move_together(client, "champion", new, lambda: pytest.fail("committed after a signal"))
    finally:
        signal.signal(signal.SIGTERM, previous)
        signals.forget()
    monkeypatch.undo()
    assert champions(client) == {"m": "1", "m-text": "1"}
