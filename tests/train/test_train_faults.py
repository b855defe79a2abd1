"""The train stage under faults, on the fixture data: interrupted, SIGKILLed, diverging, without a store, four at
once on one store. Nothing lost, nothing half-written, one clear line for the user."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers.overlap import assert_overlapped, spans
from helpers.project import free_port, run_stage, vectorized_project
from mlflow import MlflowClient

from imdb_sentiment.runtime.processes import ProcessIdentity, start_time
from imdb_sentiment.runtime.scratch import SCRATCH

FAST = ["trainer.eval_batch_size=8", "trainer.batch_size=8", "trainer.seeds=[0]"]


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
        if " epoch 3 (max " in line:
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
    assert re.match(r"error: l2_3layer: training diverged in epoch 1 \(loss (nan|inf)\)", last)  # BCE overflows
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
    assert " epoch 1 (max " not in result.stderr  # refused before any training


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
        losses = [key for key in child.data.metrics if key.startswith(("train_loss_", "val_loss_"))]  # _mse/_bce
        assert len(losses) == 2, losses
        for key in ("train_accuracy", "train_bce", "val_accuracy", "val_bce", *losses):
            assert len(client.get_metric_history(child.info.run_id, key)) == epochs, key
    experiment = client.get_experiment_by_name("imdb-sentiment")
    assert len(client.search_logged_models([experiment.experiment_id])) == 8
    for variant in variants:
        metrics = json.loads((project / f"reports/train/{variant}/metrics.json").read_text())
        assert metrics["seeds"] == 2


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@contextmanager
def small_filesystem(folder: Path, state: str):
    """A tmpfs of 256 KB mounted at ``folder`` holding a previous output, then made full or read-only (the test
    needs root, as CI runs; elsewhere it is skipped)."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], check=False)
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        (folder / "base_1layer").mkdir()
        (folder / "base_1layer/metrics.json").write_text('{"previous": 1}\n')
        if state == "full":
            with open(folder / "filler", "wb", buffering=0) as filler:
                try:
                    while filler.write(b"\0" * 4096):
                        pass
                except OSError:  # ENOSPC: full
                    pass
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize(("state", "reason"), [("full", "No space left on device"), ("read-only", "Read-only")])
def test_an_output_that_cannot_be_written_fails_the_stage_in_one_line_and_its_runs(vectorized, tmp_path, state, reason):
    """A full disk or a read-only folder: exit 2 with the path and the remedy, no traceback, the previous output
    and the models as they were, and the variant's runs FAILED, never FINISHED (they describe no output)."""
    project, overrides = vectorized
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    reports, models = project / "reports/train", project / "models/variants/base_1layer"
    models_before = folder_bytes(models)
    with small_filesystem(reports, state):
        result = run_stage(
            project, "train", "model=base_1layer", *FAST, *overrides, check=False, env={"MLFLOW_TRACKING_URI": uri}
        )
        previous = (reports / "base_1layer/metrics.json").read_text()
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot write {reports}") and reason in last, last
    assert "Traceback" not in result.stderr
    assert previous == '{"previous": 1}\n'
    assert folder_bytes(models) == models_before  # an earlier test's models, or none: as they were
    _, runs = runs_of(uri)
    statuses = {r.data.tags["level"]: r.info.status for r in runs}  # read-only: refused before any seed trained
    assert statuses == {"variant": "FAILED", "seed": "FAILED"} if state == "full" else {"variant": "FAILED"}
