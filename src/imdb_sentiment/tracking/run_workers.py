"""MLflow writes moved off the training thread: a queue-and-thread base and its two workers.

:class:`EpochMetricWriter` writes each epoch's metrics while the next epoch trains; :class:`RunFinisher`
logs a trained seed's artifacts, and ends its run, while the next seed trains. Both surface their first
error on the training thread, so a run never looks complete without what it should hold.

Home-made because MLflow logs artifacts synchronously, and its asynchronous metric logging shares one queue
per store that every run's end shuts down: a run ended on the finisher's thread while the next seed queues
an epoch races ``AsyncLoggingQueue.log_batch_async``, which checks and submits outside its lock (MLflow
3.17). ``tracking.background_writes: false`` does every write on the training thread instead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from mlflow import MlflowClient
from mlflow.entities import Metric

from imdb_sentiment.runtime.errors import first_line
from imdb_sentiment.tracking.runs import end_unsuccessfully_by_id, note_logged

log = logging.getLogger(__name__)


class BackgroundWorker:
    """A daemon thread working through a queue; its first error surfaces on the training thread."""

    def __init__(self, name: str, background: bool = True):
        # SimpleQueue, not Queue: its put is reentrant (C, no Python-level lock), so a Ctrl-C that lands inside
        # a put cannot leave a lock held that the put of close() on the way out would wait on forever.
        self.pending: queue.SimpleQueue = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work_all, name=name, daemon=True) if background else None
        if self.thread is not None:
            self.thread.start()

    def handle(self, item) -> None:
        raise NotImplementedError

    def put(self, item) -> None:
        """Queue ``item`` for the thread; without one, handle it here and now."""
        if self.thread is None:
            self.handle(item)
        else:
            self.pending.put(item)

    def close(self, raise_errors: bool = True) -> None:
        """Wait until every queued item is handled."""
        if self.thread is not None:
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

    A write to the SQLite store is a commit; here it overlaps the next epoch instead of delaying it
    (docs/performance.md compares it with MLflow's asynchronous logging). A failed write surfaces on the training
    thread at the next epoch or at :meth:`close`, so the run still ends FAILED with an exact report of what
    was logged.
    """

    def __init__(self, run_id: str, background: bool = True):
        self.run_id = run_id
        self.client = MlflowClient()
        super().__init__(name=f"metrics-{run_id[:8]}", background=background)

    def __call__(self, epoch: int, logs: dict[str, float]) -> None:
        self._raise_if_failed()
        timestamp = int(time.time() * 1000)
        self.put([Metric(key, float(value), timestamp, epoch) for key, value in logs.items()])

    def handle(self, metrics: list[Metric]) -> None:
        if self.error is not None:  # the store failed: later epochs are not written either
            return
        try:
            self.client.log_batch(self.run_id, metrics=metrics)
        except Exception as exc:  # reported on the training thread
            self.error = exc
            return
        note_logged(f"the metrics of epoch {metrics[0].step}")


def epoch_metric_writer(run_id: str, background: bool = True) -> AbstractContextManager[EpochMetricWriter]:
    return closed_at_exit(EpochMetricWriter(run_id, background))


class RunFinisher(BackgroundWorker):
    """Logs a trained seed's artifacts by run id on a background thread and ends its run, while the next seed trains.

    The figures, texts and model are mostly Python work (matplotlib drawing, Keras saving) while the fits run
    in TensorFlow's C++ threads, so the two overlap (figures in docs/performance.md). A submitted run is left
    open by the training thread (:func:`~imdb_sentiment.tracking.runs.open_run`) and ended here exactly once, after its
    artifacts: FINISHED, or FAILED with the reason. The first failure surfaces on the training thread at the
    next :meth:`submit` (which then leaves that run to its caller to end) or at :meth:`close`; the runs
    queued after it are marked FAILED, never left looking complete without their artifacts.
    """

    def __init__(self, background: bool = True) -> None:
        super().__init__(name="run-finisher", background=background)

    def submit(self, run_id: str, run_name: str, work: Callable[[], None]) -> None:
        """Hand the open run over: from here the finisher ends it. Raises an earlier job's error instead."""
        self._raise_if_failed()
        self.put((run_id, run_name, work))

    def handle(self, job: tuple[str, str, Callable[[], None]]) -> None:
        run_id, run_name, work = job
        client = MlflowClient()
        if self.error is not None:
            self._mark_failed(client, run_id, run_name)
            return
        try:
            work()
            client.set_terminated(run_id, "FINISHED")
        except BaseException as exc:  # reported on the training thread
            self.error = end_unsuccessfully_by_id(client, run_id, run_name, exc)

    def _mark_failed(self, client: MlflowClient, run_id: str, run_name: str) -> None:
        try:
            client.set_tag(run_id, "failure_reason", f"its artifacts were not logged: {first_line(self.error)}"[:4000])
            client.set_terminated(run_id, "FAILED")
        except Exception as exc:  # the store may be the thing that failed
            log.warning("could not mark run '%s' FAILED in the store: %s", run_name, exc)


def run_finisher(background: bool = True) -> AbstractContextManager[RunFinisher]:
    return closed_at_exit(RunFinisher(background))
