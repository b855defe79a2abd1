"""Sweep workers for real, on the fixture data: 2 worker processes on SQLite and on a loopback PostgreSQL,
a worker SIGKILLed mid-trial, every worker SIGKILLed and the sweep rerun, and the study in optuna-dashboard."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import requests
import yaml
from helpers.project import free_port, run, run_stage, vectorized_project
from mlflow import MlflowClient
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

pytestmark = pytest.mark.slow
STUDY = "fixture"
FAST_TRIALS = (
    f"sweep.study_name={STUDY}",
    "sweep.heartbeat_seconds=1",
    "sweep.grace_seconds=4",
    "sweep.startup_trials=2",
    "trainer.eval_batch_size=8",
)
LONG_TRIALS = ("trainer.max_epochs=150", "trainer.patience=150")  # long enough to be killed mid-trial


@pytest.fixture(scope="module")
def fixture_project(tmp_path_factory, keras_mirror):
    return vectorized_project(tmp_path_factory.mktemp("sweep") / "project", keras_mirror)


@pytest.fixture
def project(fixture_project, tmp_path):
    """A fresh copy of the vectorized project per test: its own sweeps.db, mlflow.db and conf/model."""
    source, overrides = fixture_project
    copy = tmp_path / "project"
    subprocess.run(["cp", "-r", str(source), str(copy)], check=True)
    return copy, overrides


def sweep_command(project: Path, *overrides: str) -> list[str]:
    return [sys.executable, "stages/sweep.py", *FAST_TRIALS, *overrides]


def start_worker(project: Path, *overrides: str, env: dict | None = None) -> subprocess.Popen:
    log = open(project / f"worker-{time.monotonic_ns()}.log", "w")
    return subprocess.Popen(
        sweep_command(project, *overrides),
        cwd=project,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        process_group=0,
    )


def load(storage: str) -> optuna.Study:
    return optuna.load_study(study_name=STUDY, storage=storage)


def sqlite_storage(project: Path) -> str:
    return f"sqlite:///{project / 'sweeps.db'}"


def wait_for(condition, timeout: float = 180, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def running_trial_of(storage: str, pid: int):
    """A trial worker ``pid`` is running, once its seed's MLflow run has started."""
    try:
        trials = load(storage).get_trials(states=(TrialState.RUNNING,))
    except (KeyError, Exception):  # the study is not created yet
        return None
    return next((t for t in trials if t.user_attrs.get("worker", "").endswith(f":{pid}")), None)


def runs_by_level(uri: str) -> dict[str, list]:
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("imdb-sentiment").experiment_id])
    return {level: [r for r in runs if r.data.tags.get("level") == level] for level in ("sweep", "variant", "seed")}


def assert_budget_done_once(study: optuna.Study, n_trials: int) -> list:
    """Exactly ``n_trials`` finished trials, distinct in their values; whatever else is there failed."""
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == n_trials, [(t.number, t.state) for t in study.trials]
    assert {t.state for t in study.trials} <= {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL}
    assert len({tuple(sorted(t.params.items())) for t in finished}) == n_trials  # none run twice
    return finished


def test_two_workers_split_the_budget_nest_every_trial_and_show_in_optuna_dashboard(project):
    project, overrides = project
    uri = f"sqlite:///{project / 'mlflow.db'}"
    run(sweep_command(project, "sweep.workers=2", "sweep.n_trials=6", *overrides), project)
    study = load(sqlite_storage(project))
    finished = assert_budget_done_once(study, 6)
    workers = {t.user_attrs["worker"] for t in finished}
    assert len(workers) == 2  # both worker processes ran trials
    levels = runs_by_level(uri)
    [sweep] = levels["sweep"]
    assert sweep.info.status == "FINISHED" and sweep.info.run_id == study.user_attrs["mlflow_parent_run_id"]
    assert len(levels["variant"]) == 6 and all(
        r.data.tags["mlflow.parentRunId"] == sweep.info.run_id for r in levels["variant"]
    )
    assert {r.data.tags["sweep_trial"] for r in levels["variant"]} == {str(t.number) for t in finished}
    assert {r.data.tags["optuna.state"] for r in levels["variant"]} <= {"COMPLETE", "PRUNED"}
    assert sweep.data.tags["mlflow.note.content"].startswith("Optuna study **fixture**: 6 trials")
    assert "process.pid" not in sweep.data.tags  # many processes' run: no later stage may end it as theirs
    assert sweep.data.metrics["best_best_val_accuracy"] == pytest.approx(study.best_value)
    tuned = yaml.safe_load((project / "conf/model/tuned.yaml").read_text())
    assert tuned["model"]["units"] == study.best_params["model.units"] and tuned["model"]["name"] == "tuned"
    assert [a.path for a in MlflowClient(uri).list_artifacts(sweep.info.run_id)] == ["tuned.yaml"]
    assert_dashboard_lists(sqlite_storage(project), project, n_trials=len(study.trials))
    run_stage(project, "train", "model=tuned", "trainer.seeds=[0]", "trainer.max_epochs=2", *overrides)
    assert (project / "reports/train/tuned/metrics.json").is_file()


def assert_dashboard_lists(storage: str, project: Path, n_trials: int) -> None:
    """optuna-dashboard, started on 127.0.0.1 against the study's storage, serves its trials over HTTP."""
    port = free_port()
    dashboard = Path(sys.executable).parent / "optuna-dashboard"
    log = open(project / "dashboard.log", "w")
    server = subprocess.Popen(
        [str(dashboard), storage, "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        process_group=0,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        studies = wait_for(lambda: get_json(f"{base}/api/studies"), timeout=60, what="optuna-dashboard")
        [study] = [s for s in studies["study_summaries"] if s["study_name"] == STUDY]
        detail = get_json(f"{base}/api/studies/{study['study_id']}")
        assert len(detail["trials"]) == n_trials
        assert requests.get(f"{base}/dashboard", timeout=10).status_code == 200  # the web UI itself
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def get_json(url: str):
    try:
        response = requests.get(url, timeout=5)
    except requests.ConnectionError:
        return None
    return response.json() if response.ok else None


def test_a_sigkilled_worker_s_trial_is_retried_by_the_other_and_its_runs_end_killed(project):
    project, overrides = project
    storage, uri = sqlite_storage(project), f"sqlite:///{project / 'mlflow.db'}"
    common = ("sweep.n_trials=4", *LONG_TRIALS, *overrides)
    victim = start_worker(project, *common)
    killed = wait_for(lambda: running_trial_of(storage, victim.pid), what="the victim's trial")
    survivor = start_worker(project, *common)
    wait_for(lambda: runs_of_trial(uri, killed.number, "seed"), what="the killed trial's seed run")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert survivor.wait(600) == 0
    study = load(storage)
    finished = assert_budget_done_once(study, 4)
    assert study.trials[killed.number].state is TrialState.FAIL
    retries = [t for t in finished if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == killed.number]
    assert len(retries) == 1 and retries[0].params == study.trials[killed.number].params  # queued again, same values
    assert {r.info.status for r in runs_of_trial(uri, killed.number)} == {"KILLED"}
    assert runs_by_level(uri)["sweep"][0].info.status == "FINISHED"


def runs_of_trial(uri: str, number: int, level: str | None = None) -> list:
    client = MlflowClient(uri)
    try:
        experiment = client.get_experiment_by_name("imdb-sentiment")
    except Exception:
        return []
    if experiment is None:
        return []
    where = f"tags.sweep_trial = '{number}'" + (f" and tags.level = '{level}'" if level else "")
    return client.search_runs([experiment.experiment_id], filter_string=where)


def test_a_sweep_killed_entirely_resumes_keeps_its_finished_trials_and_stops_at_the_budget(project):
    project, overrides = project
    storage = sqlite_storage(project)
    common = ("sweep.n_trials=3", *overrides)
    worker = start_worker(project, *common, "trainer.max_epochs=60", "trainer.patience=60")
    wait_for(
        lambda: len(load_or_none(storage, TrialState.COMPLETE)) >= 1 and running_trial_of(storage, worker.pid),
        what="one finished trial and one under way",
    )
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    kept = {t.number: (t.value, t.datetime_complete) for t in load_or_none(storage, TrialState.COMPLETE)}
    run(sweep_command(project, *common, "trainer.max_epochs=60", "trainer.patience=60"), project)
    study = load(storage)
    assert_budget_done_once(study, 3)
    for number, (value, completed) in kept.items():
        assert (study.trials[number].value, study.trials[number].datetime_complete) == (value, completed)
    assert len(runs_by_level(f"sqlite:///{project / 'mlflow.db'}")["sweep"]) == 1  # the same sweep, resumed
    run(sweep_command(project, *common), project)  # the budget is spent: a rerun adds no trial
    assert len(load(storage).trials) == len(study.trials)


def load_or_none(storage: str, state: TrialState) -> list:
    try:
        return load(storage).get_trials(states=(state,))
    except Exception:
        return []


def test_two_workers_on_a_loopback_postgresql_run_every_trial_once(project, postgres):
    project, overrides = project
    postgres.create_database("optuna")
    storage = postgres.url("optuna")
    env = {"IMDB_SWEEP_STORAGE": storage}
    workers = [start_worker(project, "sweep.n_trials=6", *overrides, env=env) for _ in range(2)]
    assert [worker.wait(600) for worker in workers] == [0, 0]
    finished = assert_budget_done_once(load(storage), 6)
    assert len({t.user_attrs["worker"] for t in finished}) == 2
    assert postgres.query("optuna", "SELECT count(*) FROM trials")[0][0] == 6
    assert not (project / "sweeps.db").exists()  # the study is in PostgreSQL only


def test_a_terminated_worker_queues_its_trial_again_and_ends_its_runs_and_the_sweep_run_killed(project):
    project, overrides = project
    storage, uri = sqlite_storage(project), f"sqlite:///{project / 'mlflow.db'}"
    worker = start_worker(project, "sweep.n_trials=2", *LONG_TRIALS, *overrides)
    trial = wait_for(lambda: running_trial_of(storage, worker.pid), what="the worker's trial")
    wait_for(lambda: runs_of_trial(uri, trial.number, "seed"), what="the trial's seed run")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(120) == 143
    study = load(storage)
    assert study.trials[trial.number].state is TrialState.FAIL
    [queued] = study.get_trials(states=(TrialState.WAITING,))
    assert queued.user_attrs["retry_of"] == trial.number
    assert {r.info.status for r in runs_of_trial(uri, trial.number)} == {"KILLED"}
    assert runs_by_level(uri)["sweep"][0].info.status == "KILLED"
    run(sweep_command(project, "sweep.n_trials=2", *overrides), project)  # resumed: the queued trial runs first
    finished = assert_budget_done_once(load(storage), 2)
    [retried] = [t for t in finished if t.user_attrs.get("retry_of") == trial.number]
    assert retried.params == load(storage).trials[trial.number].params  # not the snapshot: taken maybe before suggest
    assert runs_by_level(uri)["sweep"][0].info.status == "FINISHED"
