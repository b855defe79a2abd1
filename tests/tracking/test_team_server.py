"""A team's tracking server, for real: ``mlflow server`` on PostgreSQL, proxied artifacts, basic auth.

The module starts a throw-away PostgreSQL cluster and an authenticated MLflow server on 127.0.0.1, runs
the project's real fetch, vectorize and train stages against it, and reads everything back over HTTP:
the runs and their tags, params and per-epoch metrics, the artifacts (which must land in the server's
``--artifacts-destination``, not in the project) and the logged model, loaded and used to predict. It
also shows that the server refuses requests without valid credentials, that a stage run without them
fails with one line, and that the rows are in PostgreSQL (so nothing fell back to a local store).

Needs PostgreSQL's server binaries (Debian: ``apt-get install -y postgresql``), ``mlflow[auth]`` and the
driver that SQLAlchemy picks for ``postgresql://`` URLs (psycopg 3 since SQLAlchemy 2.1:
``psycopg[binary]``); the module is skipped, saying which is missing, when they are not there. The cluster
is conftest's ``postgres`` fixture (helpers/postgres.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
from helpers.postgres import Postgres
from helpers.project import free_port, run_stage, vectorized_project

pytestmark = pytest.mark.slow

pytest.importorskip("flask_wtf", reason="MLflow basic auth needs its extra: pip install 'mlflow[auth]'")

import mlflow  # noqa: E402  (after the skips: importing MLflow is slow)
from mlflow import MlflowClient  # noqa: E402
from mlflow.tracking._tracking_service.utils import _use_tracking_uri  # noqa: E402

ADMIN_USER, TRAINER_USER = "admin", "trainer"
EXPERIMENT = "imdb-sentiment"
VARIANT, SEEDS, MAX_EPOCHS, NUM_WORDS = "l2_3layer", (0, 1), 3, 30
TRAIN_OVERRIDES = (
    f"model={VARIANT}",
    f"trainer.seeds=[{','.join(map(str, SEEDS))}]",
    f"trainer.max_epochs={MAX_EPOCHS}",
    "trainer.batch_size=8",
    "trainer.eval_batch_size=8",
    "trainer.verbose=false",
)
STARTUP_TIMEOUT = 120.0  # seconds; the first start migrates two empty databases
UNAUTHENTICATED = 401


# --- the MLflow server ------------------------------------------------------------------------------


@dataclass
class TeamServer:
    url: str
    admin_password: str
    artifacts_dir: Path
    work_dir: Path
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, to show with a failure on the client side."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def write_auth_config(path: Path, database_uri: str, admin_password: str) -> Path:
    """The basic-auth ini (keys as in MLflow 3.17's ``mlflow/server/auth/basic_auth.ini``), private to root.

    The user table lives in PostgreSQL too, so all of the server's state is in one database server.
    The credential cache is on: without it every request re-hashes the password (PBKDF2), measured
    here at ~360 ms a request against ~25 ms with it; failed logins are never cached.
    """
    path.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {database_uri}\n"
        f"admin_username = {ADMIN_USER}\n"
        f"admin_password = {admin_password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 60\n"
    )
    path.chmod(0o600)
    return path


def wait_for_health(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    """Poll ``/health`` (left open by basic auth) until the server answers; fail early if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mlflow server exited ({process.returncode}):\n{log_path.read_text()[-4000:]}")
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"mlflow server not healthy after {timeout:.0f} s:\n{log_path.read_text()[-4000:]}")


def stop_process_group(process: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM the whole group (mlflow server and its uvicorn worker), SIGKILL what is left after ``grace``."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def team_server(tmp_path_factory, postgres: Postgres) -> Iterator[TeamServer]:
    """``mlflow server --app-name basic-auth`` on PostgreSQL, serving artifacts from a temp folder."""
    postgres.create_database("mlflow")
    postgres.create_database("mlflow_auth")
    root = tmp_path_factory.mktemp("mlflow-server")
    artifacts_dir, work_dir = root / "artifacts", root / "cwd"
    artifacts_dir.mkdir()
    work_dir.mkdir()  # the server's cwd: a fallback store would show up here as mlflow.db or mlruns/
    admin_password = os.urandom(12).hex()
    auth_ini = write_auth_config(root / "basic_auth.ini", postgres.url("mlflow_auth"), admin_password)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": os.urandom(16).hex(),  # basic auth refuses to start without it
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }  # no huey job runner: not used, saves CPU
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        postgres.url("mlflow"),
        "--artifacts-destination",
        str(artifacts_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--app-name",
        "basic-auth",
    ]
    log_path = root / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            cwd=work_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_for_health(url, process, log_path, STARTUP_TIMEOUT)
        yield TeamServer(url, admin_password, artifacts_dir, work_dir, log_path)
    finally:
        stop_process_group(process)


@pytest.fixture(scope="module")
def trainer_password(team_server) -> str:
    """A plain (non-admin) team member, created by the admin through the auth REST API."""
    password = os.urandom(12).hex()
    response = requests.post(
        f"{team_server.url}/api/2.0/mlflow/users/create",
        json={"username": TRAINER_USER, "password": password},
        auth=(ADMIN_USER, team_server.admin_password),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return password


def credentials_env(url: str, username: str, password: str) -> dict[str, str]:
    """What a team member exports to use the server."""
    return {"MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_USERNAME": username, "MLFLOW_TRACKING_PASSWORD": password}


# --- one real training against the server -----------------------------------------------------------


@dataclass
class TrainedProject:
    project: Path
    overrides: list[str]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, keras_mirror, team_server, trainer_password) -> TrainedProject:
    """fetch, vectorize and train (2 seeds, 3 epochs) in a fresh project, tracked on the team server."""
    project, overrides = vectorized_project(
        tmp_path_factory.mktemp("team") / "project", keras_mirror, num_words=NUM_WORDS
    )
    try:
        run_stage(
            project,
            "train",
            *TRAIN_OVERRIDES,
            *overrides,
            env=credentials_env(team_server.url, TRAINER_USER, trainer_password),
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- mlflow server log ---\n{team_server.log_tail()}") from None
    return TrainedProject(project, overrides)


@pytest.fixture
def client(monkeypatch, team_server, trainer_password) -> MlflowClient:
    """An MlflowClient on the server with the trainer's credentials, for this test only."""
    for name, value in credentials_env(team_server.url, TRAINER_USER, trainer_password).items():
        monkeypatch.setenv(name, value)
    return MlflowClient(tracking_uri=team_server.url)


def runs_by_level(client: MlflowClient) -> dict[str, list]:
    """The experiment's runs split by the project's ``level`` tag: one per variant, one per seed."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None, f"experiment {EXPERIMENT!r} not on the server"
    runs = client.search_runs([experiment.experiment_id])
    return {level: [r for r in runs if r.data.tags.get("level") == level] for level in ("variant", "seed")}


# --- the tests -------------------------------------------------------------------------------------


def test_server_refuses_requests_without_valid_credentials(team_server, trainer_password):
    """No credentials, a wrong password or an unknown user: 401; only /health is open."""
    search = f"{team_server.url}/api/2.0/mlflow/experiments/search?max_results=1"

    def status(auth: tuple[str, str] | None) -> int:
        return requests.get(search, auth=auth, timeout=30).status_code

    assert status(None) == UNAUTHENTICATED
    assert status((TRAINER_USER, "not-the-password")) == UNAUTHENTICATED
    assert status(("nobody", trainer_password)) == UNAUTHENTICATED
    assert status((TRAINER_USER, trainer_password)) == 200
    assert requests.get(f"{team_server.url}/health", timeout=30).status_code == 200  # open for probes


def test_train_stage_logs_variant_and_seed_runs_with_params_and_epoch_metrics(trained, client):
    """Read back over HTTP: a FINISHED variant run, its seed runs nested in it, params, per-epoch history."""
    runs = runs_by_level(client)
    assert len(runs["variant"]) == 1 and len(runs["seed"]) == len(SEEDS)
    parent = runs["variant"][0]
    assert parent.data.tags["variant"] == VARIANT and parent.info.status == "FINISHED"
    assert "best_val_accuracy" in parent.data.metrics and "best_val_accuracy_std" in parent.data.metrics
    assert {r.info.status for r in runs["seed"]} == {"FINISHED"}
    assert {r.data.tags["mlflow.parentRunId"] for r in runs["seed"]} == {parent.info.run_id}
    assert sorted(r.data.tags["seed"] for r in runs["seed"]) == [str(s) for s in SEEDS]
    for run in runs["seed"]:
        params = run.data.params
        assert params["model.name"] == VARIANT and params["trainer.max_epochs"] == str(MAX_EPOCHS)
        assert params["data.num_words"] == str(NUM_WORDS) and params["trainer.seed"] == run.data.tags["seed"]
        epochs = int(run.data.metrics["epochs_run"])
        assert 1 <= epochs <= MAX_EPOCHS  # fewer only if early stopping fired
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert sorted(m.step for m in history) == list(range(1, epochs + 1))


def test_artifacts_go_through_the_server_into_its_artifact_store(trained, client, team_server):
    """Clients upload through mlflow-artifacts:/; the files land in --artifacts-destination, not the project."""
    runs = runs_by_level(client)
    for run in runs["seed"]:
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), run.info.artifact_uri
        listed = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"history.csv", "model_summary.txt", "loss_curves.png"} <= listed
        on_disk = team_server.artifacts_dir / run.info.experiment_id / run.info.run_id / "artifacts"
        assert (on_disk / "history.csv").is_file()
        csv = client.download_artifacts(run.info.run_id, "history.csv", str(trained.project.parent))
        assert Path(csv).read_text() == (on_disk / "history.csv").read_text()
    # MLflow 3 stores a logged model beside the runs (<experiment>/models/<model id>/artifacts), not among
    # the run's artifacts; the run finds it by name (runs:/<run id>/<variant>-seed<n>) through the logged model.
    models = client.search_logged_models([runs["seed"][0].info.experiment_id])
    assert len(models) == len(SEEDS)
    for model in models:
        assert model.source_run_id in {r.info.run_id for r in runs["seed"]}
        assert model.name == f"{VARIANT}-seed{client.get_run(model.source_run_id).data.tags['seed']}"
        assert model.artifact_location.startswith("mlflow-artifacts:/")
        with _use_tracking_uri(team_server.url):  # mlflow-artifacts:/ resolves against the tracking server
            listed = {
                Path(a.path).name  # paths come back as artifacts/<name>
                for a in mlflow.artifacts.list_artifacts(artifact_uri=model.artifact_location)
            }
        assert {"MLmodel", "data", "requirements.txt", "input_example.json"} <= listed
        on_disk = team_server.artifacts_dir / model.experiment_id / "models" / model.model_id / "artifacts"
        assert (on_disk / "MLmodel").is_file() and (on_disk / "data" / "model.keras").is_file()
    # nothing fell back to a local store, neither in the project nor beside the server
    for folder in (trained.project, team_server.work_dir):
        assert not (folder / "mlruns").exists() and not (folder / "mlflow.db").exists()


def test_logged_model_loads_back_over_http_and_predicts(trained, client, team_server):
    """What a teammate does with a model someone else trained: load it by run and predict."""
    run = runs_by_level(client)["seed"][0]
    with _use_tracking_uri(team_server.url):  # runs:/ and mlflow-artifacts:/ resolve against it
        model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/{run.info.run_name}")
    predictions = np.asarray(model.predict(np.zeros((2, NUM_WORDS), dtype=np.float32)))
    assert predictions.shape == (2, 1) and np.all((predictions >= 0) & (predictions <= 1))


def test_postgres_holds_the_runs_metrics_and_users(trained, postgres):
    """Straight from PostgreSQL, not through MLflow: proof that the backend is Postgres, not a fallback."""
    runs = dict(postgres.query("mlflow", "SELECT status, count(*) FROM runs GROUP BY status"))
    assert runs == {"FINISHED": 1 + len(SEEDS)}
    levels = dict(postgres.query("mlflow", "SELECT value, count(*) FROM tags WHERE key = 'level' GROUP BY value"))
    assert levels == {"variant": 1, "seed": len(SEEDS)}
    seed_epochs = (  # the seeds' rows (the variant's run logs their per-epoch mean under the same name)
        "SELECT count(*) FROM metrics m JOIN tags t ON t.run_uuid = m.run_uuid"
        " WHERE m.key = 'val_accuracy' AND t.key = 'level' AND t.value = 'seed'"
    )
    [(epochs_logged,)] = postgres.query("mlflow", seed_epochs)
    seeds_epochs = (  # the variant's run logs epochs_run too: the seeds' mean, under the same name
        "SELECT m.value FROM metrics m JOIN tags t ON t.run_uuid = m.run_uuid"
        " WHERE m.key = 'epochs_run' AND t.key = 'level' AND t.value = 'seed'"
    )
    epochs_run = [v for (v,) in postgres.query("mlflow", seeds_epochs)]
    assert len(epochs_run) == len(SEEDS) and epochs_logged == sum(epochs_run)  # one row per seed and epoch
    users = {name for (name,) in postgres.query("mlflow_auth", "SELECT username FROM users")}
    assert users == {ADMIN_USER, TRAINER_USER}


def test_stage_without_credentials_fails_with_one_line(trained, team_server, monkeypatch, tmp_path):
    """Exit 2 and one ``error:`` line naming the server and the 401, before any output is written."""
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    empty_home = tmp_path / "home"  # MLflow clients also read ~/.mlflow/credentials
    empty_home.mkdir()
    result = run_stage(
        trained.project,
        "train",
        *TRAIN_OVERRIDES,
        *trained.overrides,
        check=False,
        env={"MLFLOW_TRACKING_URI": team_server.url, "HOME": str(empty_home)},
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith(f"error: cannot use the MLflow tracking store {team_server.url}: "), lines
    assert "401" in lines[-1] and "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in lines[-1], lines[-1]
