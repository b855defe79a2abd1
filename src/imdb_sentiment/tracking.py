"""MLflow: where runs go, what every run carries (params, tags, lineage), and how models are logged."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import queue
import re
import subprocess
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.data.meta_dataset import MetaDataset
from mlflow.data.sources import LocalArtifactDatasetSource
from mlflow.models import Model, ModelSignature
from mlflow.types import Schema, TensorSpec
from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT

from imdb_sentiment.config import Config, TrackingConfig
from imdb_sentiment.errors import TrackingError, first_line
from imdb_sentiment.processes import HOST_TAG, ProcessIdentity, process_tags, this_process

log = logging.getLogger(__name__)

MLFLOW_DIGEST_CHARS = 32  # MLflow stores dataset digests in a 36-character column


def project_root() -> Path:
    """The user's project folder, also from inside ``dvc exp run --queue``'s temporary copy.

    DVC sets ``DVC_ROOT`` for every stage and, for queued experiments, points it at the real repository,
    so the default store is the same ``mlflow.db`` however the stage was started.
    """
    return Path(os.environ.get("DVC_ROOT") or os.getcwd()).resolve()


def default_store(root: Path) -> tuple[str, str]:
    """The embedded store: SQLite at the project root, artifacts in ``mlruns/`` beside it."""
    return f"sqlite:///{root / 'mlflow.db'}", (root / "mlruns").as_uri()


# Bounded retries and timeouts for a tracking server, unless the user set their own.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "15"}


AUTH_REFUSED = re.compile(r"error code (401|403)\b")


def store_hint(detail: str) -> str:
    """What to do about a store that failed: a refused login needs credentials, not another store."""
    if AUTH_REFUSED.search(detail):
        return ("the server refused the request: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, "
                "or ~/.mlflow/credentials, to an account with access")
    return "set MLFLOW_TRACKING_URI or tracking.uri to a store you can reach"


@contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialise creating an embedded SQLite store and its experiment across processes started together."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    lock_path = Path(uri.removeprefix("sqlite:///") + ".lock")
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
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    artifact_location = None
    uri = cfg.uri
    if not uri:
        uri, artifact_location = default_store(project_root())
    mlflow.set_tracking_uri(uri)
    try:
        with store_lock(uri):
            experiment = mlflow.get_experiment_by_name(cfg.experiment_name)
            if experiment is None:
                experiment_id = mlflow.create_experiment(cfg.experiment_name, artifact_location=artifact_location)
            else:
                experiment_id = experiment.experiment_id
            if (uri, experiment_id) not in _orphans_checked:
                end_runs_of_ended_processes(experiment_id)
                _orphans_checked.add((uri, experiment_id))
    except Exception as exc:  # MLflow raises many types here: connection, SQL, permission errors
        detail = first_line(exc)
        raise TrackingError(f"cannot use the MLflow tracking store {uri}: {detail[:300]} ({store_hint(detail)})") \
            from exc
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


_orphans_checked: set[tuple[str, str]] = set()


def end_runs_of_ended_processes(experiment_id: str) -> list[str]:
    """End as KILLED the RUNNING runs whose process, on this host, has ended; return their names.

    A process killed with SIGKILL leaves its runs RUNNING forever, beside the rerun's FINISHED ones. Only
    runs on this host are checked (elsewhere liveness is unknown), and only runs that recorded their
    process (:mod:`imdb_sentiment.processes`); the runs of live processes (other stages, queue workers,
    a launcher's trials) are left alone. One search of the store: a few ms.
    """
    me = this_process()
    if me is None:
        return []
    running = mlflow.search_runs([experiment_id], output_format="list",
                                 filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{me.host}'")
    ended = []
    client = MlflowClient()
    for run in running:
        owner = ProcessIdentity.from_tags(run.data.tags)
        if owner is None or not owner.has_ended():
            continue
        client.set_tag(run.info.run_id, "failure_reason",
                       f"process {owner.pid} on {owner.host} ended without closing the run")
        client.set_terminated(run.info.run_id, "KILLED")
        ended.append(run.info.run_name)
    ended.sort()
    if ended:
        log.warning("ended %d run(s) as KILLED, left RUNNING by a process that is gone: %s", len(ended),
                    ", ".join(ended))
    return ended


STORE_ERROR_MODULES = {"mlflow", "requests", "urllib3", "sqlalchemy", "sqlite3"}
_last_logged = ["nothing yet"]


def note_logged(what: str) -> None:
    """Remember the last thing written to the store, so a store that fails mid-run gets an exact report."""
    _last_logged[0] = what


def is_store_failure(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in STORE_ERROR_MODULES


@contextmanager
def tracked_run(run_name: str, tags: dict[str, str], nested: bool = False,
                parent_run_id: str | None = None, resume_run_id: str | None = None) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run whose end status says what happened.

    FINISHED on success; KILLED when interrupted (Ctrl-C, SIGTERM); FAILED otherwise, with the reason in
    the tag ``failure_reason`` so ``mlflow ui`` shows why. When the store itself fails mid-run, the error
    says what was logged last (nothing after it was), and the stage writes no output. ``parent_run_id``
    nests the run under a run of another process (a sweep's); ``resume_run_id`` reopens an ended run (in
    this thread: MLflow's active runs are per thread). A new run records this process
    (:func:`~imdb_sentiment.processes.process_tags`), so a stage started after a SIGKILL can end it KILLED.
    """
    if resume_run_id is not None:
        run = mlflow.start_run(run_id=resume_run_id)
    else:
        run = mlflow.start_run(run_name=run_name, tags={**process_tags(), **tags}, nested=nested,
                               parent_run_id=parent_run_id)
    note_logged(f"the start of run '{run_name}'")
    try:
        yield run
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        try:
            try:
                mlflow.set_tag("failure_reason", f"{type(exc).__name__}: {exc}"[:4000])
            finally:
                mlflow.end_run(status=status)
        except Exception as end_error:  # the store may be the thing that failed
            log.warning("could not mark run '%s' %s in the store: %s", run_name, status, end_error)
        if is_store_failure(exc):
            detail = first_line(exc)[:300]
            raise TrackingError(f"the tracking store failed during run '{run_name}' ({detail}); logged up to "
                                f"{_last_logged[0]}, nothing after it; no output of this stage was written, "
                                f"rerun it when the store works") from exc
        raise
    mlflow.end_run()


def git_commit(folder: Path) -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def source_commit() -> str | None:
    """The commit the stage's code comes from.

    A DVC experiment ran from its baseline rev (``DVC_EXP_BASELINE_REV``, set by DVC for every ``dvc exp
    run``); otherwise the HEAD of the stage's own working folder. Never ``DVC_ROOT``'s: for ``dvc exp run
    --queue`` that is the user's repository, whose HEAD may have moved on since the experiment was queued.
    """
    return os.environ.get("DVC_EXP_BASELINE_REV") or git_commit(Path.cwd())


def lineage_tags(stage: str, variant: str | None = None) -> dict[str, str]:
    """Tags that tie a run to the code and the DVC experiment that produced it.

    ``mlflow.source.git.commit`` is set to the same commit, so the two never disagree: MLflow's own reads
    the entry script's repository (right in a queued experiment's copy, checked by a test), and a run
    created through ``MlflowClient`` (the sweep's) gets none.
    """
    tags = {"stage": stage}
    if variant:
        tags["variant"] = variant
    commit = source_commit()
    if commit:
        tags["git_commit"] = tags[MLFLOW_GIT_COMMIT] = commit
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
    if os.environ.get("DVC_EXP_BASELINE_REV"):
        tags["dvc_exp_baseline_rev"] = os.environ["DVC_EXP_BASELINE_REV"]
    return tags


def log_params(flat: dict[str, Any]) -> None:
    """The whole resolved config as params; lists become their string form."""
    mlflow.log_params({key: str(value) if isinstance(value, (list, tuple)) else value
                       for key, value in flat.items()})
    note_logged("the params")


def log_features_input(digest: str, processed_dir: Path, rows: dict[str, int], num_words: int,
                       context: str) -> None:
    """Record the vectorized data as the run's dataset input; its digest is the data's content hash."""
    dataset = MetaDataset(source=LocalArtifactDatasetSource(str(processed_dir.resolve())),
                          name=f"imdb-multihot-{num_words}", digest=digest[:MLFLOW_DIGEST_CHARS])
    mlflow.log_input(dataset, context=context,
                     tags={"sha256": digest, "rows": str(rows), "num_words": str(num_words)})
    note_logged("the dataset input")


class BackgroundWorker:
    """A daemon thread working through a queue; its first error surfaces on the training thread."""

    def __init__(self, name: str):
        self.pending: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work_all, name=name, daemon=True)
        self.thread.start()

    def handle(self, item) -> None:
        raise NotImplementedError

    def close(self, raise_errors: bool = True) -> None:
        """Wait until every queued item is handled."""
        self.pending.put(None)
        self.thread.join()
        if raise_errors:
            self._raise_if_failed()

    def _work_all(self) -> None:
        while (item := self.pending.get()) is not None:
            self.handle(item)

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error


@contextmanager
def closed_at_exit(worker: BackgroundWorker) -> Iterator[BackgroundWorker]:
    """Close ``worker`` on the way out; when an error is in flight, that is the error to report."""
    try:
        yield worker
    except BaseException:
        worker.close(raise_errors=False)
        raise
    worker.close()


class EpochMetricWriter(BackgroundWorker):
    """Live per-epoch metrics (``step`` = epoch from 1), written on a background thread.

    A write to the SQLite store costs ~14 ms (a commit); here it overlaps the next epoch instead of
    delaying it. MLflow's own asynchronous logging was measured slower (its end-of-run flush cost ~1 s).
    A failed write surfaces on the training thread at the next epoch or at :meth:`close`, so the run still
    ends FAILED with an exact report of what was logged.
    """

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.client = MlflowClient()
        super().__init__(name=f"metrics-{run_id[:8]}")

    def __call__(self, epoch: int, logs: dict[str, float]) -> None:
        self._raise_if_failed()
        timestamp = int(time.time() * 1000)
        self.pending.put([Metric(key, float(value), timestamp, epoch) for key, value in logs.items()])

    def handle(self, metrics: list[Metric]) -> None:
        if self.error is not None:  # the store failed: later epochs are not written either
            return
        try:
            self.client.log_batch(self.run_id, metrics=metrics)
        except Exception as exc:  # reported on the training thread
            self.error = exc
            return
        note_logged(f"the metrics of epoch {metrics[0].step}")


def epoch_metric_writer(run_id: str) -> AbstractContextManager[EpochMetricWriter]:
    return closed_at_exit(EpochMetricWriter(run_id))


class RunFinisher(BackgroundWorker):
    """Completes ended seed runs on a background thread, so their artifacts are logged while the next seed trains.

    A seed's figures, texts and model take ~0.4 s to log (most of it matplotlib drawing and Keras saving,
    both Python); the fits run in TensorFlow's C++ threads, so the two overlap. Each job reopens its run
    (ended FINISHED by the training thread with its params and per-epoch metrics), logs, and ends it again:
    FINISHED, or FAILED with the reason. The first failure surfaces on the training thread at the next
    :meth:`submit` or at :meth:`close`; the runs submitted or queued after it are marked FAILED, never left
    looking complete without their artifacts.
    """

    def __init__(self) -> None:
        super().__init__(name="run-finisher")

    def submit(self, run_id: str, run_name: str, work: Callable[[], None]) -> None:
        if self.error is not None:  # an earlier job failed: this run will not get its artifacts either
            self._mark_failed(run_id, run_name)
            raise self.error
        self.pending.put((run_id, run_name, work))

    def handle(self, job: tuple[str, str, Callable[[], None]]) -> None:
        run_id, run_name, work = job
        if self.error is not None:
            self._mark_failed(run_id, run_name)
            return
        try:
            with tracked_run(run_name, {}, resume_run_id=run_id):
                work()
        except BaseException as exc:  # reported on the training thread
            self.error = exc

    def _mark_failed(self, run_id: str, run_name: str) -> None:
        try:
            client = MlflowClient()
            client.set_tag(run_id, "failure_reason", f"its artifacts were not logged: {first_line(self.error)}"[:4000])
            client.set_terminated(run_id, "FAILED")
        except Exception as exc:  # the store may be the thing that failed
            log.warning("could not mark run '%s' FAILED in the store: %s", run_name, exc)


def run_finisher() -> AbstractContextManager[RunFinisher]:
    return closed_at_exit(RunFinisher())


def model_requirements() -> list[str]:
    """Pinned requirements for a logged Keras model, given explicitly (inferring them costs ~5 s a model)."""
    pins = []
    for names in (("keras",), ("tensorflow-cpu", "tensorflow")):
        for name in names:
            try:
                pins.append(f"{name}=={metadata.version(name)}")
                break
            except metadata.PackageNotFoundError:
                continue
    return pins


def dense_signature(num_words: int) -> ModelSignature:
    return ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, num_words))]),
                          outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 1))]))


def _save_keras_model(path: str, **kwargs) -> None:
    """``mlflow.keras.save_model`` into a folder that exists first.

    MLflow 3.17's Keras flavour writes the input example before creating the model folder, so
    ``mlflow.keras.log_model(..., input_example=...)`` fails with FileNotFoundError; creating the folder
    first keeps the example inside the logged model, where ``mlflow models`` tools look for it.
    """
    os.makedirs(path, exist_ok=True)
    kwargs.pop("validate_serving_input", None)  # an option of Model.log, which passes every option on
    mlflow.keras.save_model(path=path, **kwargs)


_KERAS_FLAVOR = types.SimpleNamespace(__name__="mlflow.keras", save_model=_save_keras_model)


def log_keras_model(model, num_words: int, input_example: np.ndarray, name: str = "model",
                    registered_model_name: str | None = None):
    """Log a dense-input Keras model with its signature, an input example and pinned requirements.

    MLflow's serving-input check is off: it reloads the model and runs Keras's ``predict`` on the example,
    which prints a progress bar and a TensorFlow error line on every stage. The tests load and serve logged
    models instead (tests/test_training.py, tests/test_team_server.py, tests/test_text_model.py).
    """
    info = Model.log(artifact_path=None, name=name, flavor=_KERAS_FLAVOR, model=model,
                     signature=dense_signature(num_words), input_example=input_example.astype(np.float32),
                     pip_requirements=model_requirements(), registered_model_name=registered_model_name,
                     validate_serving_input=False)
    note_logged(f"the model '{name}'")
    return info


TEXT_MODEL_ENTRY = Path(__file__).with_name("text_model_entry.py")
TEXT_EXAMPLE = ["A wonderful, moving film with a brilliant cast.", "Dull, predictable and far too long."]


def log_text_model(keras_model_path: Path, word_index_path: Path, cfg: Config, scratch: Path):
    """Log and register the raw-text pyfunc model (models from code: loading it unpickles nothing)."""
    settings = {"num_words": cfg.data.num_words, "index_from": cfg.data.index_from,
                "start_char": cfg.data.start_char, "oov_char": cfg.data.oov_char, "threshold": cfg.final.threshold}
    settings_path = scratch / "encoder_settings.json"
    settings_path.write_text(json.dumps(settings, indent=2))
    # No signature argument: MLflow infers it from ReviewTextModel.predict's type hints and validates input
    # against them (see text_model.py); a signature given here would be overridden, with a warning.
    return mlflow.pyfunc.log_model(
        name="text_model", python_model=str(TEXT_MODEL_ENTRY),
        artifacts={"keras_model": str(keras_model_path), "word_index": str(word_index_path),
                   "settings": str(settings_path)},
        code_paths=[str(Path(__file__).parent)], input_example=TEXT_EXAMPLE,
        pip_requirements=[*model_requirements(), *(f"{name}=={metadata.version(name)}"
                                                   for name in ("pandas", "pydantic", "scipy"))],
        registered_model_name=cfg.final.text_model_name)
