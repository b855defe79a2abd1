"""A sweep worker: claim trials from the shared Optuna study, run each as a train run, and, once the budget is
spent, keep the best trial as a model config file (``conf/model/<sweep.variant_name>.yaml``).

Every worker runs this same loop against the same study (:mod:`imdb_sentiment.sweep.study`), so one process,
``sweep.workers=N`` processes, or processes on many machines split one budget. Rerunning after every worker
was killed resumes the study: finished trials are kept, a killed trial is queued again, the budget holds.
MLflow gets one sweep run, every trial's train run nested under it, whichever worker or machine ran it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from contextlib import ExitStack
from pathlib import Path

import optuna
import yaml
from mlflow import MlflowClient
from mlflow.entities import Param
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url

from imdb_sentiment.config.sweep import SweepAppConfig
from imdb_sentiment.runtime.errors import TrainingDiverged
from imdb_sentiment.runtime.outputs import write_text
from imdb_sentiment.sweep.study import STORE_FILE, next_step, open_storage, open_study, storage_url, study_lock
from imdb_sentiment.sweep.trial import STUDY_TAG, compose_trial, run_trial, trial_overrides, trial_runs
from imdb_sentiment.tracking.descriptions import DESCRIPTION, sweep_description
from imdb_sentiment.tracking.lineage import lineage_tags
from imdb_sentiment.tracking.store import project_root, setup_tracking

log = logging.getLogger(__name__)
VARIANT_TRAINER_KEYS = ("batch_size", "patience", "max_epochs")  # the trials' training conditions, kept
POLL_SECONDS = 2.0  # how often a worker with nothing to claim looks at the others' trials


def shown_url(url: str) -> str:
    """The storage as a log or a file may show it: no password; the project's own SQLite file by its name."""
    if url == storage_url(None, project_root()):
        return STORE_FILE
    return make_url(url).render_as_string(hide_password=True)


def end_stale_trial_runs(study: optuna.Study, trial: FrozenTrial) -> None:
    """A dead worker's trial (failed by its heartbeat): its MLflow runs end KILLED, wherever it ran."""
    client = MlflowClient()
    for run in trial_runs(study.study_name, trial.number, status="RUNNING"):
        client.set_tag(run.info.run_id, "failure_reason", "its sweep worker stopped sending heartbeats")
        client.set_terminated(run.info.run_id, "KILLED")
    log.warning("trial %d: its worker died; failed and queued again", trial.number)


def sweep_run(cfg: SweepAppConfig, url: str) -> str:
    """The sweep's MLflow run, opened once per study; trials of every worker nest under it."""
    sweep = cfg.sweep
    experiment_id = setup_tracking(cfg.tracking)
    client = MlflowClient()
    tags = {**lineage_tags("sweep"), "level": "sweep", STUDY_TAG: sweep.study_name, "study_storage": shown_url(url)}
    tags[DESCRIPTION] = sweep_description(cfg)
    run = client.create_run(experiment_id, run_name=f"sweep-{sweep.study_name}", tags=tags)
    params = {f"search.{key}": vars(param) for key, param in sweep.params.items()}
    params.update(n_trials=sweep.n_trials, direction=sweep.direction.value, pruner=sweep.pruner.value)
    params.update(base_model=cfg.model.name, objective=cfg.compare.metric.value)
    client.log_batch(run.info.run_id, params=[Param(key, str(value)) for key, value in params.items()])
    return run.info.run_id


def tuned_yaml(cfg: SweepAppConfig, best: FrozenTrial, url: str) -> str:
    """The best trial's model and training settings as a model config file, with where they came from."""
    model = {**vars(cfg.model), "name": cfg.sweep.variant_name}
    model = {key: getattr(value, "value", value) for key, value in model.items()}
    trainer = {key: getattr(cfg.trainer, key) for key in VARIANT_TRAINER_KEYS}
    header = (
        f"# @package _global_\n# Written by a sweep: study {cfg.sweep.study_name!r} in {shown_url(url)}, trial "
        f"{best.number} of {cfg.sweep.n_trials},\n# {cfg.compare.metric.value} {best.value:.4f} on seed(s) "
        f"{list(cfg.trainer.seeds)}. `imdb-sentiment train model={cfg.sweep.variant_name}` trains it with\n"
        f"# the study's seeds; add it to params.yaml's variants to put it in the pipeline.\n"
    )
    return header + yaml.safe_dump({"model": model, "trainer": trainer}, sort_keys=False)


def finish(cfg: SweepAppConfig, study: optuna.Study, base: list[str], parent: str, url: str) -> Path | None:
    """The budget is spent and no trial runs: write the best trial's file, log it, end the sweep run FINISHED."""
    client = MlflowClient()
    states = [t.state for t in study.get_trials(deepcopy=False)]
    for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
        client.log_metric(parent, f"trials_{state.name.lower()}", states.count(state))
    path = None
    if TrialState.COMPLETE in states:
        best = study.best_trial
        best_cfg = compose_trial(base, trial_overrides(cfg.sweep.study_name, best.number, best.params, ".", parent))
        path = Path(cfg.sweep.model_dir) / f"{cfg.sweep.variant_name}.yaml"
        write_text(path, tuned_yaml(best_cfg, best, url))
        client.log_metric(parent, f"best_{cfg.compare.metric.value}", best.value)
        client.log_artifact(parent, str(path))
        client.set_tag(parent, "best_trial", str(best.number))
        log.info(
            "best trial %d (%.4f) written to %s: train it with model=%s",
            best.number,
            best.value,
            path,
            cfg.sweep.variant_name,
        )
    client.set_terminated(parent, "FINISHED")
    return path


class Worker:
    """One process's part of the sweep: claim, train, tell, until the study's budget is spent."""

    def __init__(self, cfg: SweepAppConfig, base_overrides: list[str]):
        self.cfg, self.base = cfg, base_overrides
        self.url = storage_url(cfg.sweep.storage, project_root())
        setup_tracking(cfg.tracking)
        self.storage = open_storage(self.url, cfg.sweep, end_stale_trial_runs)
        objective, new_run = cfg.compare.metric.value, lambda: sweep_run(cfg, self.url)
        self.study, self.parent = open_study(self.storage, self.url, cfg.sweep, objective, new_run)
        self.trial: optuna.Trial | None = None

    def run(self) -> Path | None:
        MlflowClient().update_run(self.parent, status="RUNNING")  # a resumed sweep is under way again
        try:
            return self.loop()
        except BaseException as exc:  # Ctrl-C, SIGTERM, a store that failed: the trial in hand is not lost
            self.stopped("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
            raise

    def loop(self) -> Path | None:
        while True:
            with ExitStack() as lock:
                lock.enter_context(study_lock(self.url, self.cfg.sweep.study_name))
                step = next_step(self.study, self.cfg.sweep.n_trials)
                if step == "done":
                    return finish(self.cfg, self.study, self.base, self.parent, self.url)
                if step == "run":  # asked under the lock, which the trial releases once it holds its place
                    self.study.optimize(
                        lambda trial: self.objective(trial, lock), n_trials=1, catch=(TrainingDiverged,)
                    )
                    continue
            time.sleep(POLL_SECONDS)  # others' trials still run: one may die and be queued again

    def objective(self, trial: optuna.Trial, lock: ExitStack) -> float:
        lock.close()
        self.trial = trial
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # shown by optuna-dashboard
        try:
            value = run_trial(trial, self.cfg, self.base, self.parent)
        except (optuna.TrialPruned, TrainingDiverged):
            self.trial = None  # a result of these settings, not a trial to run again
            raise
        self.trial = None
        return value

    def stopped(self, status: str) -> None:
        """The trial in hand is queued again; the sweep run ends ``status`` if no other worker runs a trial."""
        try:
            if self.trial is not None:
                self.study.enqueue_trial(self.trial.params, user_attrs={"retry_of": self.trial.number})
            if not self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                MlflowClient().set_terminated(self.parent, status)
        except Exception as error:  # the store may be what failed: the original error is the one to report
            log.warning("could not queue trial %s again or end the sweep run: %s", self.trial, error)
