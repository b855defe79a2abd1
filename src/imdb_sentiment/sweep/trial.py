"""One trial of a sweep: exactly a train run, composed by Hydra from the sweep's config with the trial's values.

The trial's settings reach the train code the way a user's would, as overrides (``model.units=64``), so Hydra
checks every key and the schema every value. Each epoch's validation score goes to Optuna, whose pruner may
stop the trial; its runs then end FINISHED and tagged ``optuna.state=PRUNED``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import mlflow
import optuna
from hydra import compose

from imdb_sentiment.config.schema import validate
from imdb_sentiment.config.sweep import SearchParam, SweepAppConfig
from imdb_sentiment.runtime.errors import TrainingDiverged
from imdb_sentiment.sweep.study import DIVERGED_ATTR
from imdb_sentiment.train.variants import train_variant

STUDY_TAG, TRIAL_TAG, STATE_TAG = "sweep_study", "sweep_trial", "optuna.state"
SWEEP_CONFIG = "sweep"


class PrunedTrial(optuna.TrialPruned):
    """Raised from an epoch's end: the trial's runs end FINISHED (they did what was asked), tagged PRUNED."""

    run_status = "FINISHED"

    def __init__(self, epoch: int, value: float):
        super().__init__(f"pruned after epoch {epoch} (best so far {value:.4f})")
        self.run_tags = {STATE_TAG: "PRUNED", "pruned_after_epoch": str(epoch)}


def override_value(value: Any) -> str:
    """A value in Hydra's override grammar: numbers as Python writes them, strings quoted."""
    return f"'{value}'" if isinstance(value, str) else repr(value)


def suggest(trial: optuna.Trial, key: str, param: SearchParam) -> Any:
    if param.choices is not None:
        return trial.suggest_categorical(key, list(param.choices))
    if param.integer:
        return trial.suggest_int(key, int(param.low), int(param.high))
    return trial.suggest_float(key, param.low, param.high, log=param.log)


def trial_overrides(study_name: str, number: int, values: dict[str, Any], trials_dir: str, parent: str) -> list[str]:
    """What makes a train run this study's trial ``number``: its values, its own folders, its parent run."""
    folder = Path(trials_dir) / study_name / f"trial_{number}"
    return [
        *(f"{key}={override_value(value)}" for key, value in values.items()),
        f"model.name=trial_{number}",
        f"paths.models_dir={folder / 'models'}",
        f"paths.reports_dir={folder / 'reports'}",
        f"tracking.parent_run_id={parent}",
        f"+tracking.tags.{STUDY_TAG}={override_value(study_name)}",
        f"+tracking.tags.{TRIAL_TAG}='{number}'",
    ]


def compose_trial(base: Iterable[str], overrides: list[str]) -> SweepAppConfig:
    """The train stage's config for one trial: the sweep's command line, then the trial's overrides."""
    return validate(compose(config_name=SWEEP_CONFIG, overrides=[*base, *overrides]))


def pruning_hook(trial: optuna.Trial, metric: str, maximize: bool):
    """Report the best score so far after each epoch (steps: epochs), and stop the trial when the pruner says."""
    best = [-math.inf if maximize else math.inf]

    def hook(seed: int, epoch: int, metrics: dict[str, float]) -> None:
        value = metrics[metric]
        best[0] = max(best[0], value) if maximize else min(best[0], value)
        trial.report(best[0], epoch)
        if trial.should_prune():
            raise PrunedTrial(epoch, best[0])

    return hook


def run_trial(trial: optuna.Trial, cfg: SweepAppConfig, base: list[str], parent: str) -> float:
    """Train the trial's config (one train run, its seeds nested) and return the metric compare ranks by."""
    values = {key: suggest(trial, key, param) for key, param in cfg.sweep.params.items()}
    overrides = trial_overrides(cfg.sweep.study_name, trial.number, values, cfg.sweep.trials_dir, parent)
    trial_cfg = compose_trial(base, overrides)
    metric = trial_cfg.compare.metric
    hook = pruning_hook(trial, metric.value.removeprefix("best_"), metric.maximized)
    try:
        metrics = train_variant(trial_cfg, on_epoch_end=hook)
    except TrainingDiverged as exc:
        trial.set_user_attr(DIVERGED_ATTR, str(exc))  # a real result of these settings: not retried
        raise
    tag_trial_runs(cfg.sweep.study_name, trial.number, {STATE_TAG: "COMPLETE"})
    return metrics[metric.value]


def trial_runs(study_name: str, number: int, status: str | None = None) -> list:
    """The MLflow runs of one trial (its train run and seed runs), in the current experiment's store."""
    where = f"tags.{STUDY_TAG} = '{study_name}' and tags.{TRIAL_TAG} = '{number}'"
    if status:
        where += f" and attributes.status = '{status}'"
    return mlflow.search_runs(search_all_experiments=True, filter_string=where, output_format="list")


def tag_trial_runs(study_name: str, number: int, tags: dict[str, str]) -> None:
    client = mlflow.MlflowClient()
    for run in trial_runs(study_name, number):
        for key, value in tags.items():
            client.set_tag(run.info.run_id, key, value)
