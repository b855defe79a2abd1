"""Dataset inputs: a dataset another process inserted between MLflow's lookup and its insert is logged on a second
try (the race two sweep workers hit on a fresh store); any other store error is raised as it is; the test split is
a testing input of its own."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import mlflow
import pytest
import sqlalchemy.exc
from helpers.config import yaml_config
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import BAD_REQUEST
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from imdb_sentiment.tracking.datasets import log_dataset, log_test_dataset

MANIFEST = SimpleNamespace(digest="c" * 64, rows={"train": 40, "test": 30}, width=30)
LOST_RACE = sqlalchemy.exc.IntegrityError(
    "INSERT INTO datasets ...", {}, sqlite3.IntegrityError("UNIQUE constraint failed: datasets.experiment_id, ...")
)


@pytest.fixture
def store(tmp_path):
    db = tmp_path / "mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    mlflow.set_experiment("inputs")
    return db  # conftest.tracking_uri_restored undoes set_tracking_uri


def rival_inserts_first(monkeypatch, rival_run_id: str) -> list[str]:
    """The store's first call loses the race as MLflow's SQL store does: the rival's insert of the same dataset
    commits between the lookup and the insert, and this call is rolled back and raises. Returns the calls."""
    original, calls = SqlAlchemyStore._log_inputs_impl, []

    def racing(self, experiment_id, run_id, dataset_inputs=None, models=None):
        calls.append(run_id)
        if len(calls) == 1:
            original(self, experiment_id, rival_run_id, dataset_inputs, models)
            raise MlflowException(message=LOST_RACE, error_code=BAD_REQUEST) from LOST_RACE
        return original(self, experiment_id, run_id, dataset_inputs, models)

    monkeypatch.setattr(SqlAlchemyStore, "_log_inputs_impl", racing)
    return calls


@pytest.mark.parametrize("by_id", [False, True], ids=["active run", "run by id"])
def test_a_dataset_another_process_inserted_first_is_logged_on_the_second_try(store, monkeypatch, by_id):
    client = MlflowClient()
    experiment_id = mlflow.get_experiment_by_name("inputs").experiment_id
    rival = client.create_run(experiment_id, run_name="other-process").info.run_id
    with mlflow.start_run() as run:
        calls = rival_inserts_first(monkeypatch, rival)
        log_dataset(yaml_config(), MANIFEST, "training", run.info.run_id if by_id else None)
    assert calls == [run.info.run_id, run.info.run_id]
    for run_id in (rival, run.info.run_id):
        [logged] = client.get_run(run_id).inputs.dataset_inputs
        assert logged.dataset.name == "imdb-multihot-30" and logged.dataset.digest == "c" * 32
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT count(*) FROM datasets").fetchone() == (1,)  # one dataset, used by both runs


def test_any_other_store_error_is_raised_without_a_second_try(store, monkeypatch):
    calls = []

    def locked(self, experiment_id, run_id, dataset_inputs=None, models=None):
        calls.append(run_id)
        raise MlflowException("(sqlite3.OperationalError) database is locked")

    monkeypatch.setattr(SqlAlchemyStore, "_log_inputs_impl", locked)
    with mlflow.start_run(), pytest.raises(MlflowException, match="database is locked"):
        log_dataset(yaml_config(), MANIFEST, "training")
    assert len(calls) == 1


def test_the_test_split_is_logged_as_a_testing_input_with_its_own_digest(store):
    digests = {"train": "a" * 64, "test": "b" * 64}
    manifest = SimpleNamespace(digest="c" * 64, split_digests=digests, rows={"train": 40, "test": 30}, width=30)
    with mlflow.start_run() as run:
        log_dataset(yaml_config(), manifest, "training")
        test_split = log_test_dataset(yaml_config(), manifest)
        mlflow.log_metrics({"test_accuracy": 0.9}, dataset=test_split)
    inputs = MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    contexts = {i.dataset.name: {t.key: t.value for t in i.tags}["mlflow.data.context"] for i in inputs}
    assert contexts == {"imdb-multihot-30": "training", "imdb-multihot-30-test": "testing"}
    [test_input] = [i for i in inputs if i.dataset.name.endswith("-test")]
    assert test_input.dataset.digest == "b" * 32
