"""The Optuna study a sweep's workers share: its storage, its lock, and who runs which trial.

Any number of worker processes, on this machine or others, open the same study by name and split its trials.
The storage is one URL (``sweep.storage``, env ``IMDB_SWEEP_STORAGE``): SQLite at the project root by default,
PostgreSQL for a team. Both are Optuna RDB storages, the kind with heartbeats: a worker that dies mid-trial
(SIGKILL, a lost node) stops beating, and the next worker to ask fails its trial and queues it again
(``RetryHeartbeatStaleTrialCallback``). Optuna's journal file has no heartbeats (5.1), so it is not offered.

Claiming a trial is exact: a lock (a file lock beside SQLite; a PostgreSQL advisory lock) covers counting the
budget and Optuna's ``ask``, so N workers run exactly ``sweep.n_trials`` distinct trials, never one twice.
"""

from __future__ import annotations

import logging
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from imdb_sentiment.config.sweep import PrunerName, SweepConfig
from imdb_sentiment.runtime.errors import ConfigError
from imdb_sentiment.tracking.store import store_lock

log = logging.getLogger(__name__)
# heartbeats and their retry callback are "experimental" in Optuna 5.1, though in it since 2.9: said once, here
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

STORE_FILE = "sweeps.db"
PARENT_RUN_ATTR = "mlflow_parent_run_id"
SPACE_ATTR = "search_space"  # what the study was created with: a rerun with another space is refused
WORKERS_ATTR = "workers_started"  # how many workers opened the study: each seeds its sampler apart
DIVERGED_ATTR = "diverged"  # a trial that failed on its own settings: it used its place in the budget
USED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
StaleHook = Callable[[optuna.Study, FrozenTrial], None]


def storage_url(storage: str | None, root: Path) -> str:
    return storage or f"sqlite:///{(root / STORE_FILE).resolve()}"


def open_storage(url: str, sweep: SweepConfig, on_stale: StaleHook) -> RDBStorage:
    """The RDB storage with heartbeats; ``on_stale`` sees each dead worker's trial after it is queued again."""
    if not url.startswith(("sqlite:///", "postgresql")):
        raise ConfigError(
            f"sweep.storage={url!r} is not allowed: sqlite:///<file> or postgresql://<user>@<host>/<db> "
            "(storages with heartbeats, so a killed worker's trial is retried)"
        )
    retry = RetryHeartbeatStaleTrialCallback(max_retry=sweep.max_retries)

    def stale(study: optuna.Study, trial: FrozenTrial) -> None:
        retry(study, trial)
        on_stale(study, trial)

    engine = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    with study_lock(url, "create tables"):
        return RDBStorage(
            url,
            engine_kwargs=engine,
            heartbeat_interval=sweep.heartbeat_seconds,
            grace_period=sweep.grace_seconds,
            heartbeat_stale_trial_callback=stale,
        )


@contextmanager
def study_lock(url: str, study_name: str) -> Iterator[None]:
    """One worker at a time, across processes (SQLite: a file lock) or machines (PostgreSQL: an advisory lock)."""
    if url.startswith("sqlite"):
        with store_lock(url):
            yield
        return
    import sqlalchemy

    key = zlib.crc32(f"imdb-sentiment-sweep:{study_name}".encode())
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        engine.dispose()


def make_sampler(sweep: SweepConfig, worker: int) -> optuna.samplers.BaseSampler:
    """TPE seeded per worker: ``sampler_seed`` for the study's first, +1 for its second... Workers with one seed
    would propose the very same random trials."""
    seed = None if sweep.sampler_seed is None else sweep.sampler_seed + worker
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=sweep.startup_trials)


def make_pruner(sweep: SweepConfig) -> optuna.pruners.BasePruner:
    if sweep.pruner is PrunerName.median:
        return optuna.pruners.MedianPruner(
            n_startup_trials=sweep.startup_trials // 2, n_warmup_steps=sweep.warmup_epochs
        )
    if sweep.pruner is PrunerName.hyperband:
        return optuna.pruners.HyperbandPruner(min_resource=max(1, sweep.warmup_epochs))
    return optuna.pruners.NopPruner()


def search_space_text(sweep: SweepConfig) -> str:
    return repr(sorted((key, vars(param)) for key, param in sweep.params.items()))


def open_study(storage: RDBStorage, url: str, sweep: SweepConfig, objective: str, create_parent_run: Callable[[], str]):
    """The study by name, created by the first worker (which opens the sweep's MLflow run), loaded by the rest.

    Returns the study and the MLflow run every trial's run nests under. A study created with another search
    space or direction is refused: its trials would not answer this sweep's question.
    """
    with study_lock(url, sweep.study_name):
        study = optuna.create_study(
            storage=storage, study_name=sweep.study_name, direction=sweep.direction.value, load_if_exists=True
        )
        space, direction = search_space_text(sweep), sweep.direction.value
        stored = study.user_attrs.get(SPACE_ATTR)
        if stored is not None and (stored, study.direction.name.lower()) != (space, direction):
            raise ConfigError(
                f"sweep.study_name={sweep.study_name!r} is a study with another search space or direction "
                f"in {url}: name a new study, or run it with its own settings ({stored}, {study.direction.name})"
            )
        if PARENT_RUN_ATTR not in study.user_attrs:
            study.set_metric_names([objective])  # what optuna-dashboard's plots name their axis
            study.set_user_attr(SPACE_ATTR, space)
            study.set_user_attr(PARENT_RUN_ATTR, create_parent_run())
        worker = study.user_attrs.get(WORKERS_ATTR, 0)
        study.set_user_attr(WORKERS_ATTR, worker + 1)
        study = optuna.load_study(
            study_name=sweep.study_name, storage=storage, sampler=make_sampler(sweep, worker), pruner=make_pruner(sweep)
        )
        return study, study.user_attrs[PARENT_RUN_ATTR]


def counts_against_budget(trial: FrozenTrial) -> bool:
    """Done, under way, queued, or failed on its own settings; a killed trial's retry is queued instead."""
    return trial.state in USED_STATES or (trial.state is TrialState.FAIL and DIVERGED_ATTR in trial.user_attrs)


def next_step(study: optuna.Study, n_trials: int) -> str:
    """``run`` (a queued retry, or room in the budget), ``wait`` (the budget is used, trials still run) or
    ``done``. Call it under :func:`study_lock` and ask before releasing it, so two workers never take one place."""
    optuna.storages.fail_stale_trials(study)  # a dead worker's trial: failed and queued again, under the lock
    trials = study.get_trials(deepcopy=False)
    if any(t.state is TrialState.WAITING for t in trials):
        return "run"
    if sum(counts_against_budget(t) for t in trials) < n_trials:
        return "run"
    return "wait" if any(t.state is TrialState.RUNNING for t in trials) else "done"
