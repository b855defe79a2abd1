"""Faults, bad input and concurrency: nothing lost, nothing half-written, one clear line for the user."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port, run_stage, vectorized_project
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow import MlflowClient
from omegaconf import OmegaConf
from overlap import assert_overlapped, spans
from test_config import from_yaml, yaml_config

from imdb_sentiment.config.schema import Activation, ConfigError, Loss, Optimizer, Regularizer, TrackingConfig, validate
from imdb_sentiment.runtime.errors import TrackingError
from imdb_sentiment.runtime.outputs import atomic_dir, atomic_path, write_json
from imdb_sentiment.runtime.processes import ProcessIdentity, start_time
from imdb_sentiment.runtime.scratch import SCRATCH
from imdb_sentiment.tracking.store import setup_tracking

FAST = ["trainer.eval_batch_size=8", "trainer.batch_size=8", "trainer.seeds=[0]"]


# ------------------------------------------------------------------------------------------ fast checks


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


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (None for a folder): temporaries anywhere show up too."""
    return {str(path.relative_to(root)): None if path.is_dir() else path.read_bytes() for path in root.rglob("*")}


@pytest.mark.parametrize("dvc_project", [True, False], ids=["dvc-project", "plain-folder"])
def test_failed_write_keeps_the_previous_output(tmp_path, dvc_project):
    """A write that fails halfway (disk full) leaves the existing file and folder as they were, and no temporary."""
    if dvc_project:
        (tmp_path / ".dvc").mkdir()
    metrics, models = tmp_path / "reports" / "metrics.json", tmp_path / "models" / "variant"
    write_json(metrics, {"good": 1})
    with atomic_dir(models) as folder:
        (folder / "seed_0.keras").write_text("good")
    before = snapshot(tmp_path)
    disk_full = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(OSError, match="No space"):
        with atomic_path(metrics) as tmp, open(tmp, "w") as handle:
            handle.write('{"half": ')
            handle.flush()
            raise disk_full
    with pytest.raises(OSError, match="No space"):
        with atomic_dir(models) as folder:
            (folder / "seed_0.keras").write_text("half")
            (folder / "seed_1.keras").write_text("")
            raise disk_full
    assert snapshot(tmp_path) == before


bad_model_values = st.one_of(
    st.fixed_dictionaries({"dropout": st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0))}),
    st.fixed_dictionaries({"units": st.integers(max_value=0)}),
    st.fixed_dictionaries({"hidden_layers": st.integers(max_value=-1)}),
    st.fixed_dictionaries({"learning_rate": st.floats(max_value=0.0)}),
    st.fixed_dictionaries({"regularization": st.floats(max_value=-1e-9)}),
)


@settings(max_examples=80, deadline=None)
@given(bad_model_values)
def test_any_out_of_range_model_value_is_refused_with_its_key(bad):
    key, value = next(iter(bad.items()))
    cfg = OmegaConf.structured(yaml_config())
    cfg.model[key] = value
    with pytest.raises(ConfigError, match=rf"^model\.{key}="):
        validate(cfg)


@settings(max_examples=80, deadline=None)
@given(
    batch_size=st.integers(-5, 5000),
    patience=st.integers(-5, 50),
    num_words=st.integers(-5, 20000),
    dropout=st.floats(0, 0.999),
    optimizer=st.sampled_from(list(Optimizer)),
    activation=st.sampled_from(list(Activation)),
    loss=st.sampled_from(list(Loss)),
    regularizer=st.sampled_from(list(Regularizer)),
)
def test_config_schema_accepts_exactly_the_valid_region(
    batch_size, patience, num_words, dropout, optimizer, activation, loss, regularizer
):
    cfg = OmegaConf.structured(yaml_config())
    cfg.model = from_yaml(
        "model",
        name="m",
        dropout=dropout,
        optimizer=optimizer,
        activation=activation,
        loss=loss,
        regularizer=regularizer,
    )
    cfg.trainer.batch_size, cfg.trainer.patience, cfg.data.num_words = batch_size, patience, num_words
    valid = batch_size >= 1 and patience >= 0 and num_words > 3
    if valid:
        assert validate(cfg).trainer.batch_size == batch_size
    else:
        with pytest.raises(ConfigError, match=r"(trainer\.batch_size|trainer\.patience|data\.num_words)="):
            validate(cfg)


def test_wrong_types_are_refused_with_the_key():
    cfg = OmegaConf.structured(yaml_config())
    with pytest.raises(Exception, match="trainer.batch_size"):
        cfg.trainer.batch_size = "big"
    with pytest.raises(Exception, match="model.optimizer"):
        cfg.model.optimizer = "adamx"
    with pytest.raises(Exception, match="data.num_wrds"):
        cfg.data.num_wrds = 5


# ------------------------------------------------------------------------------------ training (slow)


@pytest.fixture(scope="module")
def vectorized(tmp_path_factory, keras_mirror):
    return vectorized_project(tmp_path_factory.mktemp("faults") / "project", keras_mirror)


def runs_of(uri: str):
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("imdb-sentiment")
    return client, client.search_runs([experiment.experiment_id]) if experiment else []


@pytest.fixture
def ctrl_c_reaches_children():
    """Children start with SIGINT as in a terminal. Where pytest runs as a script's background job, SIGINT is
    ignored and an exec'd child keeps it ignored (Python then installs no KeyboardInterrupt); a handler of
    this process's own is reset to the default in each child instead."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.usefixtures("ctrl_c_reaches_children")
def test_interrupted_training_ends_killed_and_leaves_no_complete_output(vectorized, tmp_path, signum, code):
    project, overrides = vectorized
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "stages/train.py",
            "model=l2_3layer",
            *FAST,
            *overrides,
            "trainer.max_epochs=100000",
            "trainer.patience=100000",
            "trainer.steps_per_execution=1",
        ],
        cwd=project,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "epoch 3/" in line:
            break
    process.send_signal(signum)
    try:
        _, rest = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()  # a hung stage must not outlive its test: its live temporaries would fail the next one
        raise
    assert process.returncode == code, "".join(lines) + rest
    assert rest.strip().splitlines()[-1].startswith("interrupted: ")
    assert "Traceback" not in rest
    _, runs = runs_of(uri)
    assert {r.data.tags["level"]: r.info.status for r in runs} == {"variant": "KILLED", "seed": "KILLED"}
    assert not (project / "models/variants/l2_3layer").exists()
    assert not (project / "reports/train/l2_3layer/metrics.json").exists()
    leftovers = [p for p in (project / "models").rglob("*") if p.is_file()] if (project / "models").exists() else []
    assert leftovers == []  # no temporary model folders left behind either


def stray_temporaries(project: Path) -> list[str]:
    """Temporary files or folders inside the DVC outputs (``*.tmp``, as the atomic writers name them)."""
    return sorted(
        str(path.relative_to(project))
        for folder in ("reports", "models", "data")
        if (project / folder).exists()
        for path in (project / folder).rglob("*.tmp")
    )


def scratch_entries(project: Path) -> list[str]:
    return sorted(path.name for path in (project / SCRATCH).iterdir()) if (project / SCRATCH).exists() else []


@pytest.mark.slow
def test_sigkill_leaves_no_temporary_in_outputs_and_the_next_start_removes_it(vectorized, tmp_path):
    project, overrides = vectorized
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    log = tmp_path / "train.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "stages/train.py",
                "model=l1_3layer",
                *FAST,
                *overrides,
                "trainer.max_epochs=100000",
                "trainer.patience=100000",
            ],
            cwd=project,
            env=env,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while (
            not (scratch_entries(project) or stray_temporaries(project))
            and process.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        time.sleep(1)  # well into training, with its temporaries open
        assert process.poll() is None, log.read_text()
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert stray_temporaries(project) == []  # DVC would hash them into reports/train, which compare depends on
    assert len(scratch_entries(project)) == 2  # the models folder and the histories, in .dvc/tmp/atomic
    run_stage(
        project,
        "train",
        "model=l1_3layer",
        *FAST,
        *overrides,
        "trainer.max_epochs=1",
        env={"MLFLOW_TRACKING_URI": env["MLFLOW_TRACKING_URI"]},
    )
    assert scratch_entries(project) == [] and stray_temporaries(project) == []
    assert (project / "reports/train/l1_3layer/history/seed_0.csv").is_file()


def wait_for_running_runs(uri: str, levels: set[str], process: subprocess.Popen, timeout_s: float = 300) -> list:
    """The RUNNING runs of ``levels`` once all are in the store (the stage is training by then)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        running = [r for r in runs_of(uri)[1] if r.info.status == "RUNNING"]
        if {r.data.tags.get("level") for r in running} >= levels:
            return running
        time.sleep(0.5)
    raise AssertionError(f"the stage's runs were not RUNNING in time (exit code {process.poll()})")


@pytest.mark.slow
def test_a_stage_start_ends_as_killed_the_runs_of_a_sigkilled_stage_and_no_live_ones(vectorized, tmp_path):
    project, overrides = vectorized
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with open(tmp_path / "killed.log", "w") as log:
        killed = subprocess.Popen(
            [
                sys.executable,
                "stages/train.py",
                "model=l2_3layer",
                *FAST,
                *overrides,
                "trainer.max_epochs=100000",
                "trainer.patience=100000",
            ],
            cwd=project,
            env=env,
            stderr=log,
            start_new_session=True,
        )
    try:
        orphans = wait_for_running_runs(uri, {"variant", "seed"}, killed)
        killed_started = start_time(killed.pid)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)  # what the OOM killer or a power cut does: nothing runs after it
        killed.wait()
    sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        client, _ = runs_of(uri)
        experiment_id = client.get_experiment_by_name("imdb-sentiment").experiment_id
        live = ProcessIdentity(socket.gethostname(), sleeper.pid, start_time(sleeper.pid))
        elsewhere = ProcessIdentity("another-host", killed.pid, killed_started)
        kept = [
            client.create_run(experiment_id, run_name=name, tags=identity.tags()).info.run_id
            for name, identity in (("live", live), ("elsewhere", elsewhere))
        ]
        rerun = run_stage(
            project,
            "train",
            "model=base_1layer",
            *FAST,
            *overrides,
            "trainer.max_epochs=1",
            env={"MLFLOW_TRACKING_URI": uri},
        )
        assert {client.get_run(run_id).info.status for run_id in kept} == {"RUNNING"}
    finally:
        sleeper.kill()
        sleeper.wait()
    assert (
        "ended 2 run(s) as KILLED, left RUNNING by a process that is gone: l2_3layer, l2_3layer-seed0" in rerun.stderr
    )
    reason = f"process {killed.pid} on {socket.gethostname()} ended without closing the run"
    for orphan in orphans:
        run = client.get_run(orphan.info.run_id)
        assert run.info.status == "KILLED" and run.data.tags["failure_reason"] == reason
    new_runs = [r for r in runs_of(uri)[1] if r.data.tags.get("variant") == "base_1layer"]
    assert len(new_runs) == 2 and {r.info.status for r in new_runs} == {"FINISHED"}


@pytest.mark.slow
def test_divergence_stops_at_once_and_fails_the_run_with_the_reason(vectorized, tmp_path):
    project, overrides = vectorized
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_stage(
        project,
        "train",
        "model=l2_3layer",
        *FAST,
        *overrides,
        "model.optimizer=sgd",
        "model.learning_rate=1e38",
        "model.loss=binary_crossentropy",
        check=False,
        env={"MLFLOW_TRACKING_URI": uri},
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: l2_3layer: training diverged in epoch 1 (loss nan)")
    assert "optimizer=sgd" in last and "learning_rate=1e+38" in last
    _, runs = runs_of(uri)
    assert {r.info.status for r in runs} == {"FAILED"}
    assert all("TrainingDiverged" in r.data.tags["failure_reason"] for r in runs)
    assert not (project / "models/variants/l2_3layer").exists()


@pytest.mark.slow
def test_unreachable_store_fails_the_stage_before_training(vectorized):
    project, overrides = vectorized
    uri = f"http://127.0.0.1:{free_port()}"
    result = run_stage(
        project,
        "train",
        "model=base_1layer",
        *FAST,
        *overrides,
        check=False,
        env={"MLFLOW_TRACKING_URI": uri, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot use the MLflow tracking store {uri}")
    assert "epoch 1/" not in result.stderr


@pytest.mark.slow
def test_four_concurrent_trainings_store_every_run_metric_and_model(vectorized, tmp_path):
    project, overrides = vectorized
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    variants = ["base_1layer", "l2_1layer", "l1_3layer", "l2_3layer"]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "stages/train.py",
                f"model={v}",
                *FAST,
                *overrides,
                "trainer.seeds=[0,1]",
                "trainer.max_epochs=6",
                "trainer.verbose=false",
            ],
            cwd=project,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for v in variants
    ]
    errors = [p.communicate(timeout=600)[1] for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, errors
    client, runs = runs_of(uri)
    seeds = [r for r in runs if r.data.tags.get("level") == "seed"]
    trainings = [r for r in runs if r.data.tags.get("level") == "variant"]  # one a process
    assert len(trainings) == 4 and len(seeds) == 8
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert_overlapped(spans(trainings))  # the store took their writes at the same time, not one after another
    for child in seeds:
        epochs = int(child.data.metrics["epochs_run"])
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert len(client.get_metric_history(child.info.run_id, key)) == epochs
    experiment = client.get_experiment_by_name("imdb-sentiment")
    assert len(client.search_logged_models([experiment.experiment_id])) == 8
    for variant in variants:
        metrics = json.loads((project / f"reports/train/{variant}/metrics.json").read_text())
        assert metrics["seeds"] == 2


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
