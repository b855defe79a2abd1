"""RunFinisher: seed runs completed on a background thread, without hiding a failure or a missing artifact."""

from __future__ import annotations

import time

import mlflow
import pytest
from mlflow import MlflowClient

from imdb_sentiment.tracking import run_finisher, tracked_run


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("finisher")
    return MlflowClient(uri)  # conftest.tracking_uri_restored undoes set_tracking_uri


def ended_run(name: str) -> str:
    with tracked_run(name, {"level": "seed"}) as run:
        mlflow.log_param("p", 1)
    return run.info.run_id


def test_submit_returns_at_once_and_close_leaves_every_run_finished_with_its_artifacts(store):
    started = time.perf_counter()
    with run_finisher() as finisher:
        ids = [ended_run(f"seed{i}") for i in range(2)]
        for i, run_id in enumerate(ids):
            finisher.submit(run_id, f"seed{i}", lambda i=i: (time.sleep(0.3), mlflow.log_text(f"seed {i}", "a.txt")))
        assert time.perf_counter() - started < 1.0  # the 0.6 s of logging did not block the submitting thread
    for i, run_id in enumerate(ids):
        run = store.get_run(run_id)
        assert run.info.status == "FINISHED" and run.data.params == {"p": "1"}
        assert [a.path for a in store.list_artifacts(run_id)] == ["a.txt"]
        assert store.download_artifacts(run_id, "a.txt") and run.info.end_time >= run.info.start_time


def test_a_failed_job_fails_its_run_and_the_queued_ones_and_surfaces_on_the_training_thread(store):
    def broken():
        time.sleep(0.2)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with run_finisher() as finisher:
            first, second = ended_run("seed0"), ended_run("seed1")
            finisher.submit(first, "seed0", broken)
            finisher.submit(second, "seed1", lambda: mlflow.log_text("x", "b.txt"))
    failed, skipped = store.get_run(first), store.get_run(second)
    assert failed.info.status == "FAILED" and "OSError: disk full" in failed.data.tags["failure_reason"]
    assert skipped.info.status == "FAILED"
    assert skipped.data.tags["failure_reason"] == "its artifacts were not logged: disk full"
    assert store.list_artifacts(second) == []


def test_after_a_failure_the_next_submit_raises_it_and_fails_that_run_too(store):
    def broken():
        raise ValueError("bad figure")

    with pytest.raises(ValueError, match="bad figure"):
        with run_finisher() as finisher:
            finisher.submit(ended_run("seed0"), "seed0", broken)
            time.sleep(1.0)  # the job has failed by now
            late = ended_run("seed1")
            finisher.submit(late, "seed1", lambda: None)
    assert store.get_run(late).info.status == "FAILED"
