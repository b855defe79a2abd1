"""Tracking: seed runs completed on a background thread, runs of dead processes ended, and run lineage."""

from __future__ import annotations

import logging
import socket
import subprocess
import threading
import time

import mlflow
import pytest
import sqlalchemy.exc
from helpers.project import run
from mlflow import MlflowClient

from imdb_sentiment.config.schema import TrackingConfig
from imdb_sentiment.runtime.errors import TrackingError
from imdb_sentiment.runtime.processes import ProcessIdentity, start_time, this_process
from imdb_sentiment.tracking.lineage import lineage_tags
from imdb_sentiment.tracking.run_workers import epoch_metric_writer, run_finisher
from imdb_sentiment.tracking.runs import open_run, tracked_run
from imdb_sentiment.tracking.store import setup_tracking


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("finisher")
    return MlflowClient(uri)  # conftest.tracking_uri_restored undoes set_tracking_uri


@pytest.fixture
def parent(store):
    with tracked_run("variant", {"level": "variant"}) as run:
        yield run


def open_seed_run(parent, name: str) -> str:
    """A seed run as the train stage leaves it for the finisher: params logged, still RUNNING."""
    with open_run(name, {"level": "seed"}, parent) as run_id:
        MlflowClient().log_param(run_id, "p", 1)
    return run_id


def test_submit_returns_at_once_and_the_finisher_ends_each_run_once_after_its_artifacts(store, parent):
    statuses = []

    def work(i, run_id):
        time.sleep(0.3)
        statuses.append(store.get_run(run_id).info.status)  # the run is still open while its artifacts log
        mlflow.log_text(f"seed {i}", "a.txt", run_id=run_id)

    started = time.perf_counter()
    with run_finisher() as finisher:
        ids = [open_seed_run(parent, f"seed{i}") for i in range(2)]
        for i, run_id in enumerate(ids):
            finisher.submit(run_id, f"seed{i}", lambda i=i, run_id=run_id: work(i, run_id))
        assert time.perf_counter() - started < 1.0  # the 0.6 s of logging did not block the submitting thread
    assert statuses == ["RUNNING", "RUNNING"]
    for run_id in ids:
        run = store.get_run(run_id)
        assert run.info.status == "FINISHED" and run.data.params == {"p": "1"}
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert [a.path for a in store.list_artifacts(run_id)] == ["a.txt"]
        assert store.download_artifacts(run_id, "a.txt") and run.info.end_time >= run.info.start_time


def test_a_failed_job_fails_its_run_and_the_queued_ones_and_surfaces_on_the_training_thread(store, parent):
    def broken():
        time.sleep(0.2)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with run_finisher() as finisher:
            first, second = open_seed_run(parent, "seed0"), open_seed_run(parent, "seed1")
            finisher.submit(first, "seed0", broken)
            finisher.submit(second, "seed1", lambda: mlflow.log_text("x", "b.txt", run_id=second))
    failed, skipped = store.get_run(first), store.get_run(second)
    assert failed.info.status == "FAILED" and "OSError: disk full" in failed.data.tags["failure_reason"]
    assert skipped.info.status == "FAILED"
    assert skipped.data.tags["failure_reason"] == "its artifacts were not logged: disk full"
    assert store.list_artifacts(second) == []


def test_after_a_failure_the_next_submit_raises_it_and_its_caller_fails_that_run(store, parent):
    def broken():
        raise ValueError("bad figure")

    with pytest.raises(ValueError, match="bad figure"):
        with run_finisher() as finisher:
            finisher.submit(open_seed_run(parent, "seed0"), "seed0", broken)
            time.sleep(1.0)  # the job has failed by now
            with open_run("seed1", {"level": "seed"}, parent) as late:
                finisher.submit(late, "seed1", lambda: None)
    run = store.get_run(late)
    assert run.info.status == "FAILED" and run.data.tags["failure_reason"] == "ValueError: bad figure"


def test_a_failing_open_run_ends_failed_and_a_store_failure_says_what_was_logged(store, parent):
    with pytest.raises(KeyError):
        with open_run("seed0", {"level": "seed"}, parent) as run_id:
            raise KeyError("x")
    assert store.get_run(run_id).info.status == "FAILED"
    with pytest.raises(TrackingError, match="during run 'seed1' .*logged up to the start of run 'seed1'"):
        with open_run("seed1", {"level": "seed"}, parent) as run_id:
            raise sqlalchemy.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))
    assert store.get_run(run_id).info.status == "FAILED"


def test_without_background_writes_every_write_happens_on_the_training_thread(store, parent, monkeypatch):
    """``tracking.background_writes: false``: the plain behaviour, each metric and artifact written in the call."""
    threads = []
    real_log_batch = MlflowClient.log_batch

    def recording_log_batch(self, *args, **kwargs):
        threads.append(threading.current_thread())
        return real_log_batch(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", recording_log_batch)
    with run_finisher(background=False) as finisher:
        with open_run("seed0", {"level": "seed"}, parent) as run_id:
            with epoch_metric_writer(run_id, background=False) as log_epoch:
                log_epoch(1, {"loss": 0.5})
                assert len(store.get_metric_history(run_id, "loss")) == 1  # written before the call returned
            finisher.submit(run_id, "seed0", lambda: threads.append(threading.current_thread()))
            assert store.get_run(run_id).info.status == "FINISHED"  # ended by submit itself
    assert threads == [threading.main_thread()] * 2


def test_the_run_ends_only_after_every_epoch_is_written(store, monkeypatch):
    real_log_batch = MlflowClient.log_batch

    def slow_log_batch(self, *args, **kwargs):
        time.sleep(0.1)
        return real_log_batch(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_batch", slow_log_batch)
    with tracked_run("seed0", {}) as run:
        with epoch_metric_writer(run.info.run_id) as log_epoch:
            for epoch in range(1, 6):
                log_epoch(epoch, {"loss": 1.0 / epoch})
    history = store.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == [1, 2, 3, 4, 5]
    assert store.get_run(run.info.run_id).info.end_time >= max(m.timestamp for m in history)


# ------------------------------------------------------------------- runs left RUNNING by a dead process


@pytest.fixture
def sleeper():
    """A live process the test controls, and its identity."""
    process = subprocess.Popen(["sleep", "600"])
    yield process, ProcessIdentity(socket.gethostname(), process.pid, start_time(process.pid))
    process.kill()
    process.wait()


def ended_identity(reap: bool = True) -> ProcessIdentity:
    """The identity of a process that has ended (left a zombie, unreaped, when ``reap`` is false)."""
    process = subprocess.Popen(["sleep", "600"])
    identity = ProcessIdentity(socket.gethostname(), process.pid, start_time(process.pid))
    process.kill()
    if reap:
        process.wait()
    else:
        deadline = time.monotonic() + 10
        while start_time(process.pid) is not None and time.monotonic() < deadline:
            time.sleep(0.01)  # SIGKILL is delivered asynchronously
    return identity


def test_a_process_counts_as_ended_only_when_its_host_is_this_one_and_its_pid_and_start_time_are_gone(sleeper):
    process, live = sleeper
    assert this_process() is not None and not this_process().has_ended()
    assert live.started and not live.has_ended()
    assert ended_identity(reap=True).has_ended()
    zombie = ended_identity(reap=False)
    assert zombie.has_ended()  # killed, its parent has not waited for it yet
    assert ProcessIdentity(live.host, live.pid, "another-boot:1").has_ended()  # a reused pid, or a reboot
    assert not ProcessIdentity("another-host", ended_identity().pid, live.started).has_ended()  # cannot tell
    assert ProcessIdentity.from_tags(live.tags()) == live
    assert ProcessIdentity.from_tags({}) is None
    assert ProcessIdentity.from_tags({**live.tags(), "process.pid": "x"}) is None


def running_run(client: MlflowClient, experiment_id: str, name: str, tags: dict[str, str]) -> str:
    return client.create_run(experiment_id, run_name=name, tags=tags).info.run_id


def test_a_stage_start_ends_the_runs_of_ended_processes_on_this_host_and_nothing_else(tmp_path, sleeper, caplog):
    _, live = sleeper
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("orphans")
    dead = ended_identity()
    orphans = [running_run(client, experiment_id, name, dead.tags()) for name in ("v", "v-seed0")]
    alive = running_run(client, experiment_id, "alive", live.tags())
    elsewhere = running_run(
        client, experiment_id, "elsewhere", ProcessIdentity("another-host", dead.pid, dead.started).tags()
    )
    untagged = running_run(client, experiment_id, "untagged", {})
    with caplog.at_level(logging.WARNING, "imdb_sentiment.tracking.store"):
        setup_tracking(TrackingConfig(uri=uri, experiment_name="orphans", parent_run_id=None))
    for run_id in orphans:
        run = client.get_run(run_id)
        assert run.info.status == "KILLED" and run.info.end_time
        assert run.data.tags["failure_reason"] == f"process {dead.pid} on {dead.host} ended without closing the run"
    assert {client.get_run(r).info.status for r in (alive, elsewhere, untagged)} == {"RUNNING"}
    assert [r.getMessage() for r in caplog.records if r.name == "imdb_sentiment.tracking.store"] == [
        "ended 2 run(s) as KILLED, left RUNNING by a process that is gone: v, v-seed0"
    ]


def test_a_run_its_process_finished_and_left_after_the_search_keeps_its_status(tmp_path, sleeper, monkeypatch):
    """The race CI hit with four trainings at once: a stage's search sees another stage's run RUNNING, that
    stage ends it FINISHED and exits, then the liveness check finds its process gone. The run stays FINISHED."""
    process, live = sleeper
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("race")
    finishing = running_run(client, experiment_id, "finishing", live.tags())
    has_ended = ProcessIdentity.has_ended

    def owner_finishes_and_exits(identity: ProcessIdentity) -> bool:
        client.set_terminated(finishing, "FINISHED")
        process.kill()
        process.wait()
        return has_ended(identity)

    monkeypatch.setattr(ProcessIdentity, "has_ended", owner_finishes_and_exits)
    setup_tracking(TrackingConfig(uri=uri, experiment_name="race", parent_run_id=None))
    run = client.get_run(finishing)
    assert run.info.status == "FINISHED" and "failure_reason" not in run.data.tags


def test_the_check_runs_once_per_store_and_experiment_in_a_process(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = setup_tracking(TrackingConfig(uri=uri, experiment_name="once", parent_run_id=None))
    orphan = running_run(MlflowClient(uri), experiment_id, "later", ended_identity().tags())
    # a sweep's next trial in this process
    setup_tracking(TrackingConfig(uri=uri, experiment_name="once", parent_run_id=None))
    assert MlflowClient(uri).get_run(orphan).info.status == "RUNNING"


def test_every_run_records_its_process(store):
    with tracked_run("v", {"level": "variant"}) as run:
        pass
    assert ProcessIdentity.from_tags(store.get_run(run.info.run_id).data.tags) == this_process()


# ------------------------------------------------------------------------------------------------ lineage


def committed_repo(folder) -> str:
    folder.mkdir()
    run(["git", "init", "-q"], folder)
    run(
        [
            "git",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "user.name=t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            folder.name,
        ],
        folder,
    )
    return run(["git", "rev-parse", "HEAD"], folder).stdout.strip()


def test_the_commit_is_the_experiments_baseline_or_the_stages_own_folders_head_never_dvc_roots(tmp_path, monkeypatch):
    stage_commit, user_commit = committed_repo(tmp_path / "copy"), committed_repo(tmp_path / "user")
    monkeypatch.chdir(tmp_path / "copy")  # a queued experiment's temporary copy ...
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "user"))  # ... whose DVC_ROOT is the user's repository
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    tags = lineage_tags("train")
    assert tags["git_commit"] == tags["mlflow.source.git.commit"] == stage_commit != user_commit
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "a" * 40)
    tags = lineage_tags("train")
    assert tags["git_commit"] == tags["mlflow.source.git.commit"] == tags["dvc_exp_baseline_rev"] == "a" * 40


# ------------------------------------------------------------------------------- what the MLflow UI shows


def test_the_experiment_is_marked_model_training_and_described_and_an_edited_description_is_kept(tmp_path):
    from imdb_sentiment.tracking.descriptions import DESCRIPTION, EXPERIMENT_DESCRIPTION, EXPERIMENT_KIND

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = setup_tracking(TrackingConfig(uri=uri, experiment_name="kind", parent_run_id=None))
    tags = MlflowClient(uri).get_experiment(experiment_id).tags
    assert tags[EXPERIMENT_KIND] == "custom_model_development"  # what MLflow 3.17's UI files as "Machine learning"
    assert tags[DESCRIPTION] == EXPERIMENT_DESCRIPTION and "IMDB" in tags[DESCRIPTION]
    MlflowClient(uri).set_experiment_tag(experiment_id, DESCRIPTION, "edited in the UI")
    setup_tracking(TrackingConfig(uri=uri, experiment_name="kind", parent_run_id=None))
    assert MlflowClient(uri).get_experiment(experiment_id).tags[DESCRIPTION] == "edited in the UI"


def test_params_are_the_settings_that_define_a_run_not_paths_the_store_or_a_mirror():
    from helpers.config import yaml_config

    from imdb_sentiment.config.schema import flatten
    from imdb_sentiment.tracking.runs import run_params

    params = run_params(flatten(yaml_config()))
    assert not [key for key in params if key.startswith(("paths.", "tracking.")) or "mirror" in key]
    assert not [value for value in params.values() if str(value).startswith(("/", "sqlite:", "file:"))]
    assert {"model.units", "trainer.batch_size", "features.validation_rows", "data.num_words"} <= set(params)
    assert params["data.npz_sha256"].startswith("[")  # the trusted data versions, lists as their string form
    assert not [key for key in params if key.startswith(("compare.", "final.", "report.", "trainer.verbose"))]


def test_a_final_run_carries_its_training_and_final_settings_not_validation_or_registry_ones():
    from helpers.config import yaml_config

    from imdb_sentiment.config.schema import flatten
    from imdb_sentiment.final.retrain import NOT_FINAL_PARAMS
    from imdb_sentiment.tracking.runs import TRAINING, run_params

    params = run_params(flatten(yaml_config()), keep=(*TRAINING, "final."), drop=NOT_FINAL_PARAMS)
    assert {"final.train_on", "final.seed", "final.threshold", "trainer.batch_size", "model.units"} <= set(params)
    unwanted = ("trainer.seeds", "trainer.patience", "trainer.monitor", "final.alias", "final.notebook_", "compare.")
    assert not [key for key in params if key.startswith(unwanted)]


def test_a_variant_run_logs_its_seeds_metric_names_the_mean_plain_and_the_std_beside():
    from imdb_sentiment.model.summaries import aggregate, parent_run_metrics

    seeds = [{"best_val_accuracy": 0.8, "best_epoch": 3.0}, {"best_val_accuracy": 0.9, "best_epoch": 5.0}]
    logged = parent_run_metrics(aggregate(seeds))
    assert set(logged) == set(seeds[0]) | {f"{key}_std" for key in seeds[0]}
    assert logged["best_val_accuracy"] == pytest.approx(0.85) and logged["best_epoch_std"] == pytest.approx(2**0.5)


def test_variant_seed_and_final_descriptions_say_what_the_run_is():
    from helpers.config import yaml_config

    from imdb_sentiment.tracking.descriptions import final_description, seed_description, variant_description

    cfg = yaml_config()
    assert "base_1layer" in variant_description(cfg) and "seeds 0, 1, 2" in variant_description(cfg)
    assert "seed 1" in seed_description(cfg, 1) and "32 tanh units" in seed_description(cfg, 1)
    scores = {"test_accuracy": 0.88, "test_roc_auc": 0.95, "test_f1": 0.87, "test_loss": 0.09, "test_bce": 0.3}
    final = final_description(cfg, 7, 15000, 25000, scores)
    for part in ("base_1layer", "7 epochs", "15000 training reviews", "full: the", "25000 reviews", "accuracy 0.8800"):
        assert part in final, part


def test_default_store_is_sqlite_at_the_dvc_root(tmp_path, monkeypatch):
    """Queued DVC experiments run in a temporary copy; DVC_ROOT points at the real project."""
    from imdb_sentiment.config.schema import TrackingConfig
    from imdb_sentiment.tracking.store import setup_tracking

    real_root = tmp_path / "real"
    real_root.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(real_root))
    setup_tracking(TrackingConfig(uri=None, experiment_name="queued", parent_run_id=None))
    assert mlflow.get_tracking_uri() == f"sqlite:///{real_root / 'mlflow.db'}"
    assert (real_root / "mlflow.db").is_file()
    experiment = mlflow.get_experiment_by_name("queued")
    assert experiment.artifact_location == (real_root / "mlruns").as_uri()
