"""A tracking store that cannot be used: unreachable, not a database, failing mid-run or locked. One clear
line for the user, a bounded wait, nothing half-written."""

from __future__ import annotations

import time

import pytest
from helpers.project import free_port
from mlflow import MlflowClient

from imdb_sentiment.config.schema import TrackingConfig
from imdb_sentiment.runtime.errors import TrackingError
from imdb_sentiment.runtime.outputs import atomic_dir
from imdb_sentiment.tracking.store import setup_tracking


def test_unreachable_tracking_server_fails_fast_with_the_uri(monkeypatch):
    for name in (
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(TrackingError, match=f"cannot use the MLflow tracking store {uri}"):
        setup_tracking(TrackingConfig(uri=uri, experiment_name="x", parent_run_id=None))
    assert time.monotonic() - started < 60


def test_unusable_sqlite_store_is_reported(tmp_path):
    store = tmp_path / "not-a-db.db"
    store.write_text("this is not a database")
    with pytest.raises(TrackingError, match="cannot use the MLflow tracking store sqlite:///"):
        setup_tracking(TrackingConfig(uri=f"sqlite:///{store}", experiment_name="x", parent_run_id=None))


def test_store_failing_mid_run_says_what_was_logged_and_writes_no_output(tmp_path, monkeypatch):
    """The store accepts the run, params and some epochs, then fails: a one-line report, no outputs."""
    import sqlalchemy.exc

    from imdb_sentiment.tracking.run_workers import epoch_metric_writer
    from imdb_sentiment.tracking.runs import log_params, tracked_run

    setup_tracking(TrackingConfig(uri=f"sqlite:///{tmp_path / 'mlflow.db'}", experiment_name="x", parent_run_id=None))
    real_log_batch = MlflowClient.log_batch

    def failing_after_two_epochs(self, run_id, metrics=(), **kwargs):
        if metrics and metrics[0].step > 2:
            raise sqlalchemy.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real_log_batch(self, run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", failing_after_two_epochs)
    with pytest.raises(TrackingError) as info:
        with atomic_dir(tmp_path / "models") as folder:
            with tracked_run("variant", {}):
                with tracked_run("variant-seed0", {}, nested=True) as run:
                    log_params({"a": 1})
                    with epoch_metric_writer(run.info.run_id) as log_epoch:
                        for epoch in (1, 2, 3):
                            log_epoch(epoch, {"loss": 0.5})
                    (folder / "seed_0.keras").write_text("never renamed into place")
    message = str(info.value)
    assert "failed during run 'variant-seed0'" in message and "disk I/O error" in message
    assert "logged up to the metrics of epoch 2, nothing after it" in message
    assert not (tmp_path / "models").exists()
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("x").experiment_id])
    assert {r.info.status for r in runs} == {"FAILED"}
    seed_run = next(r for r in runs if r.info.run_name == "variant-seed0")
    assert len(client.get_metric_history(seed_run.info.run_id, "loss")) == 2


@pytest.mark.slow  # waits out SQLite's busy timeout (~20 s)
def test_locked_sqlite_store_fails_within_a_bounded_wait(tmp_path):
    import sqlite3

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    setup_tracking(TrackingConfig(uri=uri, experiment_name="x", parent_run_id=None))  # create the store
    holder = sqlite3.connect(tmp_path / "mlflow.db")
    holder.execute("BEGIN EXCLUSIVE")  # another process holding a write lock, as a crashed tool might
    try:
        started = time.monotonic()
        with pytest.raises(TrackingError, match="cannot use the MLflow tracking store .*locked"):
            setup_tracking(TrackingConfig(uri=uri, experiment_name="y", parent_run_id=None))
        assert time.monotonic() - started < 60
    finally:
        holder.rollback()
        holder.close()
