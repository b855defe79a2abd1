"""DVC experiments run in a temporary copy of the repo: their MLflow runs must still reach the real store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.overlap import assert_overlapped, spans
from helpers.pipeline import dvc, reproduced_fixture_pipeline
from helpers.project import run
from mlflow import MlflowClient

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def experiment_project(tmp_path_factory, keras_mirror):
    """A fixture pipeline of the module's own, not a copy of conftest's ``fixture_pipeline``: the experiments log
    new runs, and a copy's mlflow.db would send their artifacts to the original's mlruns/ (the tests check that
    they land in this project's)."""
    project, env, _ = reproduced_fixture_pipeline(tmp_path_factory.mktemp("exps"), keras_mirror)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline results"], project)
    return project, env


def test_temp_dir_experiment_logs_to_the_projects_store_with_its_name(experiment_project):
    project, env = experiment_project
    before = {p.name for p in project.iterdir()}
    dvc(project, "exp", "run", "--temp", "-n", "fewer-epochs", "-S", "conf/trainer/default.yaml:max_epochs=2", env=env)
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("imdb-sentiment")
    runs = client.search_runs([experiment.experiment_id], "tags.dvc_exp_name = 'fewer-epochs'")
    stages = {r.data.tags["stage"] for r in runs}
    assert {"train", "compare", "final", "baselines"} <= stages, stages
    seed_runs = [r for r in runs if r.data.tags.get("level") == "seed"]
    assert seed_runs and all(r.data.params["trainer.max_epochs"] == "2" for r in seed_runs)
    for seed_run in seed_runs:  # artifacts too: in the project's mlruns/, not the deleted temp copy
        assert seed_run.info.artifact_uri.startswith((project / "mlruns").as_uri())
        assert {a.path for a in client.list_artifacts(seed_run.info.run_id)} >= {"loss_curves.png", "history.csv"}
    assert {p.name for p in project.iterdir()} == before  # no stray store written beside the project
    shown = json.loads(dvc(project, "exp", "show", "--json", env=env).stdout)
    text = json.dumps(shown)
    assert "fewer-epochs" in text and "max_epochs" in text and "best_val_accuracy" in text


def start_queue_workers(project, env, workers: int, log_path) -> None:
    """`dvc queue start -j N`, its output in a file: the workers it leaves behind would hold captured pipes."""
    with open(log_path, "w") as log:
        subprocess.run(
            [sys.executable, "-m", "dvc", "queue", "start", "-j", str(workers)],
            cwd=project,
            env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=True,
        )


def wait_for_queue(project, env, timeout_s: float = 600) -> str:
    """Poll `dvc queue status` until no experiment is queued or running; return the last status."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = dvc(project, "queue", "status", env=env).stdout
        if not any(word in status for word in ("Queued", "Running")):
            return status
        time.sleep(2)
    raise AssertionError(f"the DVC queue did not finish in {timeout_s} s:\n{status}")


def stop_processes_in(folder: Path) -> None:
    """Stop what still runs in ``folder``: a DVC queue worker does not always exit when the queue empties."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")).is_relative_to(folder):
                os.kill(int(proc.name), signal.SIGTERM)
        except (OSError, ValueError):
            continue  # gone already, or not ours to read


def run_queue(project, env, workers: int) -> str:
    """Run every queued experiment with ``workers`` workers; return the queue's last status."""
    try:
        start_queue_workers(project, env, workers, project.parent / "queue-start.log")
        return wait_for_queue(project, env)
    finally:
        dvc(project, "queue", "stop", "--kill", env=env)
        stop_processes_in(project)


def test_queued_experiments_run_two_at_a_time_log_to_the_projects_store_and_tag_the_commit_queued_from(
    experiment_project,
):
    """Two experiments queued, then a later commit while they wait: both run at once, each from its own temporary
    copy, and every run they log is in the project's store, tagged with the commit they were queued from."""
    project, env = experiment_project
    settings = {
        "units-16": "conf/model/base_1layer.yaml:model.units=16",
        "units-8": "conf/model/base_1layer.yaml:model.units=8",
    }
    queued_from = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    for name, setting in settings.items():
        dvc(project, "exp", "run", "--queue", "-n", name, "-S", setting, env=env)
    (project / "NOTES.md").write_text("a commit made while the experiments wait in the queue\n")
    run(["git", "add", "NOTES.md"], project)
    run(["git", "commit", "-qm", "later work"], project)
    status = run_queue(project, env, 2)
    assert status.count("Success") >= 2 and "Failed" not in status, status
    shown = json.loads(dvc(project, "exp", "show", "--json", "--rev", queued_from, env=env).stdout)  # their baseline
    experiments = {exp["name"]: exp["revs"][0]["data"] for baseline in shown for exp in baseline["experiments"] or []}
    for name, units in (("units-16", 16), ("units-8", 8)):
        data = experiments[name]
        assert data["params"]["conf/model/base_1layer.yaml"]["data"]["model"]["units"] == units
        assert data["metrics"]["reports/train/base_1layer/metrics.json"]["data"]["best_val_accuracy"] > 0
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment_id = client.get_experiment_by_name("imdb-sentiment").experiment_id
    for name, units in (("units-16", "16"), ("units-8", "8")):
        runs = client.search_runs([experiment_id], f"tags.dvc_exp_name = '{name}'")
        assert {r.data.tags["stage"] for r in runs} >= {"train", "compare", "final", "baselines"}
        commits = {(r.data.tags.get("git_commit"), r.data.tags.get("mlflow.source.git.commit")) for r in runs}
        assert commits == {(queued_from, queued_from)}, commits  # not the later commit
        seed_runs = [r for r in runs if r.data.tags.get("level") == "seed" and r.data.tags["variant"] == "base_1layer"]
        assert seed_runs and {r.data.params["model.units"] for r in seed_runs} == {units}
        assert all(r.info.artifact_uri.startswith((project / "mlruns").as_uri()) for r in seed_runs)
    # two at a time, not one after another: each experiment's stages, first run's start to last run's end,
    # overlapped the other's
    queued = [r for r in client.search_runs([experiment_id]) if r.data.tags.get("dvc_exp_name") in settings]
    assert_overlapped(spans(queued, key=lambda r: r.data.tags["dvc_exp_name"]))


def test_a_teammates_clone_pulls_every_output_and_has_nothing_to_rerun(experiment_project, tmp_path):
    project, env = experiment_project
    remote = tmp_path / "dvc-remote"
    dvc(project, "remote", "add", "-d", "shared", str(remote), env=env)
    dvc(project, "push", env=env)
    run(["git", "add", ".dvc/config"], project)
    run(["git", "commit", "-qm", "shared DVC remote"], project)
    clone = tmp_path / "teammate"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    dvc(clone, "pull", env=env)
    for path in (
        "data/processed/manifest.json",
        "models/final/model.keras",
        "reports/final/metrics.json",
        "reports/compare/best.json",
        "reports/train/base_1layer/history/seed_0.csv",
    ):
        assert (clone / path).read_bytes() == (project / path).read_bytes(), path
    assert "up to date" in dvc(clone, "status", env=env).stdout
    assert "Data and pipelines are up to date" in dvc(clone, "repro", env=env).stdout
