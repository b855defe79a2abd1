"""Where runs go: the MLflow store and experiment a stage uses, and clean-up of runs a killed process left open.

Holds the store choice (``tracking.uri``, else SQLite at the project root), the cross-process lock that makes
creating an embedded store safe when stages start together, and the once-per-process end of RUNNING runs
whose process is gone. Everything a stage does before its first run, so it fails fast and says why.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from imdb_sentiment.config.schema import TrackingConfig
from imdb_sentiment.runtime.env_defaults import set_unless_set
from imdb_sentiment.runtime.errors import TrackingError, first_line
from imdb_sentiment.runtime.processes import HOST_TAG, ProcessIdentity, this_process
from imdb_sentiment.tracking.descriptions import DESCRIPTION, EXPERIMENT_DESCRIPTION, EXPERIMENT_KIND, MODEL_TRAINING

log = logging.getLogger(__name__)


def project_root() -> Path:
    """The user's project folder, also from inside ``dvc exp run --queue``'s temporary copy.

    DVC sets ``DVC_ROOT`` for every stage and, for queued experiments, points it at the real repository,
    so the default store is the same ``mlflow.db`` however the stage was started.
    """
    return Path(os.environ.get("DVC_ROOT") or os.getcwd()).resolve()


def default_store(root: Path) -> tuple[str, str]:
    """The embedded store: SQLite at the project root, artifacts in ``mlruns/`` beside it."""
    return f"sqlite:///{root / 'mlflow.db'}", (root / "mlruns").as_uri()


def configured_store(cfg: TrackingConfig) -> tuple[str, str | None]:
    """The store's URI and, for the embedded default, where its artifacts go (a server decides its own)."""
    return (cfg.uri, None) if cfg.uri else default_store(project_root())


def sqlite_file(uri: str) -> Path | None:
    """The database file of a SQLite store's URI; None for any other store."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


# Bounded retries and timeouts for a tracking server, unless the user set their own.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}


AUTH_REFUSED = re.compile(r"error code (401|403)\b")


def store_hint(detail: str) -> str:
    """What to do about a store that failed: a refused login needs credentials, not another store."""
    if AUTH_REFUSED.search(detail):
        return (
            "the server refused the request: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, "
            "or ~/.mlflow/credentials, to an account with access"
        )
    return "set MLFLOW_TRACKING_URI or tracking.uri to a store you can reach"


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialise creating an embedded SQLite store and its experiment across processes started together."""
    database = sqlite_file(uri)
    if database is None:
        yield
        return
    lock_path = database.with_name(database.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def setup_tracking(cfg: TrackingConfig) -> str:
    """Point MLflow at the configured store and experiment; return the experiment id.

    Fails fast, with the URI in the message, when the store cannot be reached or written. Once per store
    and experiment in a process, ends the runs that a dead process on this host left RUNNING.
    """
    set_unless_set(HTTP_DEFAULTS)
    uri, artifact_location = configured_store(cfg)
    mlflow.set_tracking_uri(uri)
    try:
        with store_lock(uri):
            experiment = mlflow.get_experiment_by_name(cfg.experiment_name)
            if experiment is None:
                experiment_id = mlflow.create_experiment(cfg.experiment_name, artifact_location=artifact_location)
            else:
                experiment_id = experiment.experiment_id
            describe_experiment(experiment_id, {} if experiment is None else experiment.tags)
            if (uri, experiment_id) not in _orphans_checked:
                end_runs_of_ended_processes(experiment_id)
                _orphans_checked.add((uri, experiment_id))
    except Exception as exc:  # MLflow raises many types here: connection, SQL, permission errors
        detail = first_line(exc)
        raise TrackingError(
            f"cannot use the MLflow tracking store {uri}: {detail[:300]} ({store_hint(detail)})"
        ) from exc
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


_orphans_checked: set[tuple[str, str]] = set()


def read_store(cfg: TrackingConfig) -> str:
    """Point MLflow at the configured store only to read from it (predict, from any folder); return its URI.

    Nothing is created: MLflow would make an empty SQLite store wherever the user happens to be, so the
    embedded store must exist already.
    """
    set_unless_set(HTTP_DEFAULTS)
    uri, _ = configured_store(cfg)
    database = sqlite_file(uri)
    if database is not None and not database.is_file():
        raise TrackingError(f"no MLflow store at {uri} (MLFLOW_TRACKING_URI names another)")
    mlflow.set_tracking_uri(uri)
    return uri


def describe_experiment(experiment_id: str, tags: dict[str, str]) -> None:
    """Mark the experiment as model training and give it the study's description, where it lacks them.

    ``mlflow.experimentKind`` files it under the UI's "Machine learning" workflow (the experiment list's filter;
    MLflow 3.17 opens an experiment in the workflow chosen in the sidebar or by ``?workflowType=``, README).
    A description someone edited in the UI is kept.
    """
    client = MlflowClient()
    if tags.get(EXPERIMENT_KIND) != MODEL_TRAINING:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND, MODEL_TRAINING)
    if not tags.get(DESCRIPTION):
        client.set_experiment_tag(experiment_id, DESCRIPTION, EXPERIMENT_DESCRIPTION)


def end_runs_of_ended_processes(experiment_id: str) -> list[str]:
    """End as KILLED the RUNNING runs whose process, on this host, has ended; return their names.

    A process killed with SIGKILL leaves its runs RUNNING forever, beside the rerun's FINISHED ones. Only
    runs on this host are checked (elsewhere liveness is unknown), and only runs that recorded their
    process (:mod:`imdb_sentiment.runtime.processes`); the runs of live processes (other stages, queue workers,
    a launcher's trials) are left alone. One search of the store: a few ms.

    A run is re-read once its owner is known to be gone: an owner that ended it FINISHED and exited after the
    search (a concurrent stage finishing as this one starts) must keep its status; a dead owner writes no more.
    """
    me = this_process()
    if me is None:
        return []
    running = mlflow.search_runs(
        [experiment_id],
        output_format="list",
        filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{me.host}'",
    )
    ended = []
    client = MlflowClient()
    for run in running:
        owner = ProcessIdentity.from_tags(run.data.tags)
        if owner is None or not owner.has_ended():
            continue
        if client.get_run(run.info.run_id).info.status != "RUNNING":
            continue
        client.set_tag(
            run.info.run_id, "failure_reason", f"process {owner.pid} on {owner.host} ended without closing the run"
        )
        client.set_terminated(run.info.run_id, "KILLED")
        ended.append(run.info.run_name)
    ended.sort()
    if ended:
        log.warning(
            "ended %d run(s) as KILLED, left RUNNING by a process that is gone: %s", len(ended), ", ".join(ended)
        )
    return ended
