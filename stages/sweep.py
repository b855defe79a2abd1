"""Search the study's hyperparameters with Optuna: every trial is a train run, and the best becomes a variant.

The study lives in shared storage (`sweep.storage`, env IMDB_SWEEP_STORAGE; default: SQLite sweeps.db at the
project root), so workers in many processes or machines split its `sweep.n_trials` trials, and a rerun resumes
it. The search space, budget and pruner are in conf/hparams_search/; the best trial is written to
conf/model/tuned.yaml. MLflow gets one sweep run with every trial's run nested in it.

Examples:
  python stages/sweep.py                                   # one worker; rerun it to resume
  python stages/sweep.py sweep.workers=2                   # two worker processes on this machine
  python stages/sweep.py sweep.pruner=none sweep.study_name=no-pruning
  IMDB_SWEEP_STORAGE=postgresql://user@db-host/optuna python stages/sweep.py   # a worker of a team's study
  optuna-dashboard sqlite:///sweeps.db                     # the study in a browser
"""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from imdb_sentiment.cli import run_and_exit, run_stage
from imdb_sentiment.config.sweep import SweepAppConfig
from imdb_sentiment.runtime.quiet import import_tensorflow


def user_overrides() -> list[str]:
    """The command line's overrides, which every trial composes too (less how many workers run them)."""
    return [o for o in HydraConfig.get().overrides.task if not o.startswith("sweep.workers=")]


def sweep_stage(cfg: SweepAppConfig) -> None:
    if cfg.sweep.workers > 1:
        from imdb_sentiment.sweep.workers import run_workers

        sys.exit(run_workers(cfg.sweep.workers, sys.argv, HydraConfig.get().runtime.output_dir))
    import_tensorflow()  # only once the config is valid, and without its start-up banners
    from imdb_sentiment.sweep.worker import Worker

    Worker(cfg, user_overrides()).run()


@hydra.main(version_base="1.3", config_path="../conf", config_name="sweep")
def main(cfg: DictConfig) -> None:
    run_stage(cfg, sweep_stage)


if __name__ == "__main__":
    run_and_exit(main)
