"""Search the hyperparameters with Optuna: every trial is a train run, the best becomes a variant.

The study lives in shared storage (`sweep.storage`, env IMDB_SWEEP_STORAGE; default: SQLite sweeps.db at the
project root), so workers in many processes or machines split its `sweep.n_trials` trials, and a rerun resumes
it. The search space, budget and pruner are in conf/hparams_search/; the best trial is written to
conf/model/tuned.yaml. MLflow gets one sweep run with every trial's run nested in it.

Examples (the same as python stages/sweep.py ...):
  imdb-sentiment sweep                                     # one worker; rerun it to resume
  imdb-sentiment sweep sweep.workers=2                     # two worker processes on this machine
  imdb-sentiment sweep sweep.pruner=none sweep.study_name=no-pruning
  IMDB_SWEEP_STORAGE=postgresql://user@db-host/optuna imdb-sentiment sweep   # a worker of a team's study
  optuna-dashboard sqlite:///sweeps.db                     # the study in a browser
"""

import sys

from hydra.core.hydra_config import HydraConfig

from imdb_sentiment.config.sweep import SweepAppConfig
from imdb_sentiment.runtime.quiet import import_keras

CONFIG = "sweep"  # conf/sweep.yaml


def user_overrides() -> list[str]:
    """The command line's overrides, which every trial composes too (less how many workers run them)."""
    return [o for o in HydraConfig.get().overrides.task if not o.startswith("sweep.workers=")]


def config_path() -> str:
    """The folder this command composed its config from (a project's conf/, or the installed one), for workers."""
    (main,) = [source for source in HydraConfig.get().runtime.config_sources if source.provider == "main"]
    return main.path if main.schema == "file" else f"{main.schema}://{main.path}"


def task(cfg: SweepAppConfig) -> None:
    if cfg.sweep.workers > 1:
        from imdb_sentiment.sweep.workers import run_workers

        hydra = HydraConfig.get()
        sys.exit(run_workers(cfg.sweep.workers, config_path(), user_overrides(), hydra.runtime.output_dir))
    from imdb_sentiment.model.fast_path import keras_backend  # torch: only once the config is valid

    searched = {"model.optimizer", "model.output_activation", "trainer.fast_path"} & set(cfg.sweep.params)
    # only once the config is valid; TensorFlow when a trial may need the stock path
    import_keras("tensorflow" if searched else keras_backend(cfg.model, cfg.trainer))
    from imdb_sentiment.sweep.worker import Worker

    Worker(cfg, user_overrides()).run()
