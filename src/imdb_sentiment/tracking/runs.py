"""The run lifecycle and what every run carries: its end status and params (its dataset input: dataset_inputs).

:func:`tracked_run` ends a run FINISHED, KILLED or FAILED (with the reason), and turns a store that fails
mid-run into an exact report of what was logged last (:func:`note_logged`, called by every writer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.utils.mlflow_tags import (
    MLFLOW_PARENT_RUN_ID,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
    MLFLOW_USER,
)

from imdb_sentiment.runtime.errors import TrackingError, first_line
from imdb_sentiment.runtime.processes import process_tags
from imdb_sentiment.runtime.signals import raise_if_stopped

log = logging.getLogger(__name__)

STORE_ERROR_MODULES = {"mlflow", "requests", "urllib3", "sqlalchemy", "sqlite3"}
_last_logged = ["nothing yet"]


def note_logged(what: str) -> None:
    """Remember the last thing written to the store, so a store that fails mid-run gets an exact report."""
    _last_logged[0] = what


def is_store_failure(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in STORE_ERROR_MODULES


@contextmanager
def tracked_run(
    run_name: str, tags: dict[str, str], nested: bool = False, parent_run_id: str | None = None
) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run whose end status says what happened.

    FINISHED on success; KILLED when interrupted (Ctrl-C, SIGTERM); FAILED otherwise, with the reason in
    the tag ``failure_reason`` so ``mlflow ui`` shows why. When the store itself fails mid-run, the error
    says what was logged last (nothing after it was), and the stage writes no output. ``parent_run_id``
    nests the run under a run of another process (a sweep's). The run records this process
    (:func:`~imdb_sentiment.runtime.processes.process_tags`), so a stage started after a SIGKILL can end it KILLED.
    """
    run = mlflow.start_run(
        run_name=run_name, tags={**process_tags(), **tags}, nested=nested, parent_run_id=parent_run_id
    )
    note_logged(f"the start of run '{run_name}'")
    try:
        yield run
        raise_if_stopped()  # a swallowed Ctrl-C or SIGTERM: the run did not finish
    except BaseException as exc:  # re-raises exc itself, or a report whose __cause__ is exc
        error = end_unsuccessfully(
            run_name, exc, lambda status: mlflow.end_run(status=status), lambda key, value: mlflow.set_tag(key, value)
        )
        end_finished_children(run.info.run_id, exc)
        raise error  # noqa: B904
    mlflow.end_run()


def end_finished_children(parent_run_id: str, exc: BaseException) -> None:
    """The nested runs that ended FINISHED before their parent failed end as it did: the stage that made them
    wrote no output, so none of them is a result (a seed trained, then the stage could not write its reports)."""
    status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
    reason = f"its stage failed after it ended: {type(exc).__name__}: {exc}"[:4000]
    try:
        client = MlflowClient()
        parent = client.get_run(parent_run_id)
        children = client.search_runs(
            [parent.info.experiment_id],
            f"tags.mlflow.parentRunId = '{parent_run_id}' and attributes.status = 'FINISHED'",
        )
        for child in children:
            client.set_tag(child.info.run_id, "failure_reason", reason)
            client.set_terminated(child.info.run_id, status)
    except Exception as end_error:  # the store may be the thing that failed
        log.warning("could not end the runs under %s %s: %s", parent_run_id, status, end_error)


@contextmanager
def open_run(run_name: str, tags: dict[str, str], parent: mlflow.ActiveRun) -> Iterator[str]:
    """A nested run created by id, never made active in this thread, and left RUNNING when the block succeeds.

    Whoever takes the run over ends it (:class:`~imdb_sentiment.tracking.run_workers.RunFinisher`, once its artifacts
    are logged), so the run ends exactly once; if the block fails, the run ends here, as :func:`tracked_run`
    ends its own. It carries the parent's user and source tags, as a nested ``mlflow.start_run`` would.
    """
    client = MlflowClient()
    inherited = {
        key: parent.data.tags[key]
        for key in (MLFLOW_USER, MLFLOW_SOURCE_NAME, MLFLOW_SOURCE_TYPE)
        if key in parent.data.tags
    }
    run = client.create_run(
        parent.info.experiment_id,
        run_name=run_name,
        tags={**inherited, **process_tags(), **tags, MLFLOW_PARENT_RUN_ID: parent.info.run_id},
    )
    run_id = run.info.run_id
    note_logged(f"the start of run '{run_name}'")
    try:
        yield run_id
    except BaseException as exc:  # re-raises exc itself, or a report whose __cause__ is exc
        raise end_unsuccessfully_by_id(client, run_id, run_name, exc)  # noqa: B904


def end_unsuccessfully(
    run_name: str, exc: BaseException, end: Callable[[str], None], set_tag: Callable[[str, str], None]
) -> BaseException:
    """End a run KILLED (interrupted), FAILED with the reason, or as the exception's ``run_status`` and ``run_tags``
    say (a pruned trial: FINISHED, tagged). Returns the error to raise: ``exc``, or a report."""
    status = "KILLED" if isinstance(exc, KeyboardInterrupt) else getattr(exc, "run_status", "FAILED")
    tags = getattr(exc, "run_tags", None) or {"failure_reason": f"{type(exc).__name__}: {exc}"[:4000]}
    try:
        try:
            for key, value in tags.items():
                set_tag(key, value)
        finally:
            end(status)
    except Exception as end_error:  # the store may be the thing that failed
        log.warning("could not mark run '%s' %s in the store: %s", run_name, status, end_error)
    if is_store_failure(exc):
        detail = first_line(exc)[:300]
        error = TrackingError(
            f"the tracking store failed during run '{run_name}' ({detail}); logged up to "
            f"{_last_logged[0]}, nothing after it; no output of this stage was written, "
            f"rerun it when the store works"
        )
        error.__cause__ = exc
        return error
    return exc


def end_unsuccessfully_by_id(client: MlflowClient, run_id: str, run_name: str, exc: BaseException) -> BaseException:
    """:func:`end_unsuccessfully` for a run given by id, not this thread's active one."""
    return end_unsuccessfully(
        run_name,
        exc,
        lambda status: client.set_terminated(run_id, status),
        lambda key, value: client.set_tag(run_id, key, value),
    )


# Config keys that say where things are or how they were fetched, not what a run is: output paths, the store,
# a machine-local mirror, the log's verbosity. The data's version is in the ``data.*sha256`` params and the
# dataset input.
NOT_PARAMS = (
    "paths.",
    "tracking.",
    "data.mirror",
    "data.base_url",
    "data.retries",
    "data.timeout_s",
    "trainer.verbose",
)
# What defines a trained model: its data, features, network and training settings; the settings of the stages
# around it (compare, final, report) do not change it, so a train run does not carry them.
TRAINING = ("data.", "features.", "model.", "trainer.")


def run_params(flat: dict[str, Any], keep: tuple[str, ...] = TRAINING, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The settings that define a run: the flattened config's keys under ``keep``, without :data:`NOT_PARAMS`
    and ``drop``; lists as strings."""
    return {
        k: str(v) if isinstance(v, (list, tuple)) else v
        for k, v in flat.items()
        if k.startswith(keep) and not k.startswith((*NOT_PARAMS, *drop))
    }


def log_params(
    flat: dict[str, Any], run_id: str | None = None, keep: tuple[str, ...] = TRAINING, drop: tuple[str, ...] = ()
) -> None:
    """The run-defining settings of the resolved config (:func:`run_params`), to the active run or ``run_id``."""
    mlflow.log_params(run_params(flat, keep, drop), run_id=run_id)
    note_logged("the params")
