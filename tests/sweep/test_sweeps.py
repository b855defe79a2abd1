"""Sweeps: a trial's config, the storage, pruning, the exact claiming of trials from a shared study, and the best
trial kept as a variant."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import optuna
import pytest
from helpers.config import compose_sweep
from helpers.project import CONF_DIR
from hydra import compose, initialize_config_dir
from optuna.trial import TrialState

from imdb_sentiment.config.schema import ConfigError, validate
from imdb_sentiment.sweep.study import (
    DIVERGED_ATTR,
    next_step,
    open_storage,
    open_study,
    storage_url,
    study_lock,
)
from imdb_sentiment.sweep.trial import PrunedTrial, pruning_hook, trial_overrides
from imdb_sentiment.tracking.runs import end_unsuccessfully


def test_a_trial_is_the_train_config_with_its_values_folders_parent_and_tags():
    overrides = trial_overrides("s", 7, {"model.units": 64, "model.dropout": 0.25}, "logs/sweeps", "run123")
    cfg = compose_sweep(*overrides)
    assert (cfg.model.name, cfg.model.units, cfg.model.dropout, cfg.model.hidden_layers) == ("trial_7", 64, 0.25, 3)
    assert cfg.paths.models_dir == "logs/sweeps/s/trial_7/models" and cfg.tracking.parent_run_id == "run123"
    assert cfg.tracking.tags == {"sweep_study": "s", "sweep_trial": "7"}


def test_storage_must_be_one_with_heartbeats(tmp_path):
    sweep = compose_sweep().sweep
    assert storage_url(None, tmp_path) == f"sqlite:///{tmp_path / 'sweeps.db'}"
    with pytest.raises(ConfigError, match=r"sweep.storage='journal.log' is not allowed"):
        open_storage("journal.log", sweep, lambda study, trial: None)


class FakeTrial:
    def __init__(self, prune_after: int):
        self.reports, self.prune_after = [], prune_after

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return len(self.reports) >= self.prune_after


def test_each_epoch_reports_the_best_score_so_far_and_a_pruned_trials_runs_end_finished_tagged():
    trial = FakeTrial(prune_after=3)
    hook = pruning_hook(trial, "val_accuracy", maximize=True)
    hook(0, 1, {"val_accuracy": 0.7})
    hook(0, 2, {"val_accuracy": 0.6})
    with pytest.raises(PrunedTrial) as pruned:
        hook(0, 3, {"val_accuracy": 0.65})
    assert trial.reports == [(1, 0.7), (2, 0.7), (3, 0.7)]
    ended, tags = [], {}
    assert end_unsuccessfully("trial_1", pruned.value, ended.append, tags.__setitem__) is pruned.value
    assert ended == ["FINISHED"] and tags == {"optuna.state": "PRUNED", "pruned_after_epoch": "3"}


def study_in(tmp_path, n_trials: int = 4):
    sweep = compose_sweep(f"sweep.n_trials={n_trials}").sweep
    url = storage_url(None, tmp_path)
    storage = open_storage(url, sweep, lambda s, t: None)
    study, parent = open_study(storage, url, sweep, "best_val_accuracy", lambda: "run-1")
    assert study.metric_names == ["best_val_accuracy"]
    return study, parent, sweep, url


def test_the_budget_counts_done_running_queued_and_diverged_trials_not_killed_ones(tmp_path):
    study, parent, sweep, url = study_in(tmp_path, n_trials=3)
    assert parent == "run-1" and next_step(study, 3) == "run"
    study.tell(study.ask(), 0.8)
    diverged = study.ask()
    diverged.set_user_attr(DIVERGED_ATTR, "loss nan")
    study.tell(diverged, state=TrialState.FAIL)
    study.tell(study.ask(), state=TrialState.FAIL)  # killed: not counted, a new trial takes its place
    assert next_step(study, 3) == "run"
    running = study.ask()
    assert next_step(study, 3) == "wait"  # the budget is used, a trial still runs
    study.tell(running, 0.7)
    assert next_step(study, 3) == "done"
    study.enqueue_trial({"model.units": 16})
    assert next_step(study, 3) == "run"  # a queued retry always runs


def test_a_study_reopened_with_another_search_space_is_refused(tmp_path):
    study_in(tmp_path)
    sweep = compose_sweep("sweep.direction=minimize", "compare.metric=best_val_loss").sweep
    url = storage_url(None, tmp_path)
    with pytest.raises(ConfigError, match="another search space or direction"):
        open_study(open_storage(url, sweep, lambda s, t: None), url, sweep, "best_val_loss", lambda: "run-2")


def claim_until_done(url: str, n_trials: int, out: str, start) -> None:
    """A worker that claims trials the sweep's way (lock, count, ask) and finishes them at once, from the moment
    both workers are ready (``start``, a barrier: a worker still importing would find the budget spent)."""
    storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 120}})
    study = optuna.load_study(study_name="race", storage=storage)
    start.wait(60)
    mine = []
    while True:
        with study_lock(url, "race"):
            step = next_step(study, n_trials)
            if step == "done":
                break
            trial = study.ask() if step == "run" else None
        if trial is not None:
            mine.append(trial.number)
            study.tell(trial, float(trial.number))
    Path(out).write_text(json.dumps(mine))


def test_two_workers_claim_every_trial_of_the_budget_exactly_once(tmp_path):
    url = storage_url(None, tmp_path)
    optuna.create_study(study_name="race", storage=url)
    outs = [str(tmp_path / f"worker{i}.json") for i in range(2)]
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    workers = [context.Process(target=claim_until_done, args=(url, 30, out, start)) for out in outs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    claimed = [json.loads(Path(out).read_text()) for out in outs]
    assert sorted(claimed[0] + claimed[1]) == list(range(30)) and all(claimed)
    assert len(optuna.load_study(study_name="race", storage=url).trials) == 30


def test_the_best_trial_written_as_a_model_file_trains_as_a_named_variant(tmp_path):
    from optuna.trial import create_trial

    from imdb_sentiment.sweep.worker import tuned_yaml

    values = {"model.hidden_layers": 1, "model.units": 128, "model.dropout": 0.25, "trainer.batch_size": 256}
    best_cfg = compose_sweep(*trial_overrides("s", 4, values, ".", "run"))
    best = create_trial(value=0.891, params={}, distributions={})
    conf = shutil.copytree(CONF_DIR, tmp_path / "conf")
    (conf / "model" / "tuned.yaml").write_text(tuned_yaml(best_cfg, best, f"sqlite:///{tmp_path / 'x.db'}"))
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = validate(compose(config_name="config", overrides=["model=tuned"]))
    assert (cfg.model.name, cfg.model.hidden_layers, cfg.model.units, cfg.model.dropout) == ("tuned", 1, 128, 0.25)
    assert (cfg.trainer.batch_size, cfg.trainer.patience, cfg.trainer.max_epochs) == (256, 3, 40)  # as in the trials
    assert cfg.trainer.seeds == [0, 1, 2]  # seeds are not part of a variant: it trains with the study's
    assert "best_val_accuracy 0.8910" in (conf / "model" / "tuned.yaml").read_text()
