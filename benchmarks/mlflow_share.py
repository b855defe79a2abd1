"""Benchmark: the share of a real train stage's wall time spent in MLflow calls on the training thread, once per
per-epoch metric writer (``--epoch-writers``), with every epoch checked to have reached the store."""

from __future__ import annotations

import functools
import os
import statistics
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from .harness import PROCESSED, ROOT, Table, run_child

MLFLOW_CALLS = (
    "start_run",
    "end_run",
    "log_params",
    "log_metrics",
    "log_input",
    "log_figure",
    "log_text",
    "log_artifacts",
    "set_tag",
    "set_tags",
    "get_experiment_by_name",
    "create_experiment",
    "set_experiment",
    "set_tracking_uri",
)
CLIENT_CALLS = (
    "create_run",
    "log_batch",
    "log_param",
    "log_inputs",
    "log_figure",
    "log_text",
    "set_tag",
    "set_terminated",
)
EPOCH_WRITERS = ("thread", "mlflow-async", "mlflow-async-1s")


class MlflowTimer:
    """Times MLflow calls (outermost calls only, per thread): the training thread's by name, other threads' in all."""

    def __init__(self) -> None:
        self.spent, self.by_call, self.background = 0.0, {}, 0.0
        self.depth = threading.local()

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            self.depth.value = getattr(self.depth, "value", 0) + 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth.value -= 1
                if self.depth.value == 0:
                    self.record(fn.__name__, time.perf_counter() - started)

        return wrapper

    def record(self, name: str, elapsed: float) -> None:
        if threading.current_thread() is not threading.main_thread():  # off the training thread
            self.background += elapsed
        else:
            self.spent += elapsed
            self.by_call[name] = round(self.by_call.get(name, 0.0) + elapsed, 3)

    def install(self) -> None:
        """Wrap the calls before the stage's modules import them, so a name imported from mlflow is timed too."""
        import mlflow
        import mlflow.models

        from imdb_sentiment.tracking import run_workers

        for name in MLFLOW_CALLS:
            setattr(mlflow, name, self(getattr(mlflow, name)))
        mlflow.models.Model.log = classmethod(self(mlflow.models.Model.log.__func__))
        for name in CLIENT_CALLS:  # the seed runs are written by run id (runs.open_run, the finisher)
            setattr(mlflow.MlflowClient, name, self(getattr(mlflow.MlflowClient, name)))
        # waiting for the last seed's artifacts counts
        run_workers.RunFinisher.close = self(run_workers.RunFinisher.close)


@contextmanager
def mlflow_async_epoch_writer(run_id: str, background: bool = True, *, flush: bool):
    """MLflow's own asynchronous logging, the alternative to ``run_workers.EpochMetricWriter``: each epoch queued
    with ``log_batch(..., synchronous=False)``; at the end (``flush``: after flushing MLflow's queue) every queued
    write is waited for, so a failed one raises before the run ends. ``background`` (``tracking.background_writes``,
    which the stage passes to its writer) changes nothing here: MLflow's queue has its own thread."""
    import mlflow
    from mlflow.entities import Metric

    client, operations = mlflow.MlflowClient(), []

    def log_epoch(epoch: int, logs: dict[str, float]) -> None:
        stamp = int(time.time() * 1000)
        metrics = [Metric(key, float(value), stamp, epoch) for key, value in logs.items()]
        operations.append(client.log_batch(run_id, metrics=metrics, synchronous=False))

    yield log_epoch
    if flush:
        mlflow.flush_async_logging()
    for operation in operations:
        operation.wait()


def timed_epoch_writer(factory, timings: dict):
    """``factory`` with the training thread's time in each epoch's call and in the writer's close recorded; the
    stage's own arguments (run id, ``background``) go through to it."""

    @contextmanager
    def writer(run_id: str, *args, **kwargs):
        with factory(run_id, *args, **kwargs) as log_epoch:

            def timed_log_epoch(epoch, logs):
                started = time.perf_counter()
                log_epoch(epoch, logs)
                timings["epoch_calls"].append(time.perf_counter() - started)

            yield timed_log_epoch
            closing = time.perf_counter()
        timings["closes"].append(time.perf_counter() - closing)

    return writer


def stage_config(variant: str, seeds: str, scratch: Path):
    """The train stage's config with every output, and a fresh SQLite store, in ``scratch``."""
    from hydra import compose, initialize_config_dir

    from imdb_sentiment.config.schema import validate

    overrides = [
        f"model={variant}",
        *([f"trainer.seeds=[{seeds}]"] if seeds else []),
        "trainer.verbose=false",
        f"tracking.uri=sqlite:///{scratch / 'mlflow.db'}",
        f"paths.models_dir={scratch / 'models'}",
        f"paths.reports_dir={scratch / 'reports'}",
        f"paths.processed_dir={PROCESSED}",
    ]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return validate(compose(config_name="config", overrides=overrides))


def child(variant: str, seeds: str = "", epoch_writer: str = "thread") -> dict:
    """A real train stage (the study's seeds) with every MLflow call timed: the share of wall time logging.

    With ``--tracking-seeds 0`` it is one seed, the worst case: MLflow's one-off costs in a process (reading
    the installed packages' metadata to check the pinned requirements) then fall on one model. ``epoch_writer``
    picks the per-epoch metric writer: the stage's own (``thread``) or MLflow's asynchronous logging, with its
    queue's default polling (``mlflow-async``) or ``MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS=1`` and a flush at
    each run's end (``mlflow-async-1s``; the variable takes whole seconds only).
    """
    if epoch_writer == "mlflow-async-1s":  # before MLflow is imported
        os.environ["MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS"] = "1"
    timer = MlflowTimer()
    timer.install()
    from imdb_sentiment.train import variants as variant_training
    from imdb_sentiment.train.variants import train_variant

    writer_timings: dict = {"epoch_calls": [], "closes": []}
    factory = (
        variant_training.epoch_metric_writer
        if epoch_writer == "thread"
        else functools.partial(mlflow_async_epoch_writer, flush=epoch_writer == "mlflow-async-1s")
    )
    variant_training.epoch_metric_writer = timed_epoch_writer(factory, writer_timings)
    cfg = stage_config(variant, seeds, Path(tempfile.mkdtemp(prefix="bench-tracking-")))
    from imdb_sentiment.tracking.store import setup_tracking

    setup_tracking(cfg.tracking)  # create the store first: in a project it exists after the first stage
    timer.spent, timer.by_call = 0.0, {}
    started = time.perf_counter()
    metrics = train_variant(cfg)
    total = time.perf_counter() - started
    return {
        "seeds": metrics["seeds"],
        "total_seconds": total,
        "mlflow_seconds": timer.spent,
        "mlflow_share": timer.spent / total,
        "fit_seconds": metrics["train_seconds"],
        "mlflow_seconds_by_call": timer.by_call,
        "background_mlflow_seconds": timer.background,
        "epoch_writer": epoch_writer,
        **epoch_writer_figures(cfg, writer_timings),
    }


def epoch_writer_figures(cfg, timings: dict) -> dict:
    """The per-epoch writer's time on the training thread, after checking every epoch reached the store."""
    import mlflow

    client = mlflow.MlflowClient(cfg.tracking.uri)
    experiment = client.get_experiment_by_name(cfg.tracking.experiment_name)
    seed_runs = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("level") == "seed"]
    epochs = sum(int(r.data.metrics["epochs_run"]) for r in seed_runs)
    assert (
        epochs
        == sum(len(client.get_metric_history(r.info.run_id, "val_accuracy")) for r in seed_runs)
        == len(timings["epoch_calls"])
    ), "an epoch's metrics are missing"
    calls, closes = timings["epoch_calls"], timings["closes"]
    return {
        "epochs": epochs,
        "epoch_call_ms_median": 1000 * statistics.median(calls),
        "epoch_call_ms_max": 1000 * max(calls),
        "epoch_writer_close_ms": [round(1000 * c, 1) for c in closes],
        "epoch_writer_training_thread_seconds": sum(calls) + sum(closes),
    }


def measure(seeds: str, writers: list[str], table: Table) -> dict:
    """The ``l2_3layer`` stage once per per-epoch writer, each in its own child."""
    runs = {}
    for writer in writers:
        runs[writer] = run = run_child("tracking", "l2_3layer", seeds, writer)
        table.line(
            f"MLflow logging share of a l2_3layer train stage ({run['seeds']} seeds, epoch writer {writer}): "
            f"{run['mlflow_share']:.1%} ({run['mlflow_seconds']:.2f} s of {run['total_seconds']:.2f} s; plus "
            f"{run['background_mlflow_seconds']:.2f} s on background threads); epoch writer on the training "
            f"thread: {run['epoch_call_ms_median']:.2f} ms an epoch (max {run['epoch_call_ms_max']:.1f}), "
            f"{run['epoch_writer_close_ms']} ms at each run's end, "
            f"{run['epoch_writer_training_thread_seconds']:.3f} s for {run['epochs']} epochs"
        )
    return runs
