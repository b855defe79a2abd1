"""Hyperparameter sweeps: one MLflow run over a Hydra multirun, and its best trial kept as a named variant.

Hydra's Optuna sweeper proposes the trials and a Hydra launcher runs them (one after another in this
process, or two at a time with the joblib launcher); each trial is an ordinary train stage. This callback
brackets the multirun: before the first trial it opens the sweep's MLflow run and hands its id to the
trials (their ``tracking.parent_run_id`` reads :data:`PARENT_RUN_ENV`), so every trial's run nests under
it whichever process runs it. After the last trial it writes the best trial's settings as a model config
file, ``<model_dir>/<variant_name>.yaml``, which ``model=<variant_name>`` trains like the study's variants.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from mlflow import MlflowClient
from mlflow.entities import Param
from omegaconf import DictConfig, OmegaConf

from imdb_sentiment.cli import raise_on_sigterm
from imdb_sentiment.config import SelectionMetric, TrackingConfig
from imdb_sentiment.errors import ConfigError
from imdb_sentiment.lineage import lineage_tags
from imdb_sentiment.outputs import write_text
from imdb_sentiment.processes import process_tags
from imdb_sentiment.tracking_store import setup_tracking

log = logging.getLogger(__name__)

PARENT_RUN_ENV = "IMDB_SWEEP_PARENT_RUN_ID"
RESULTS_FILE = "optimization_results.yaml"  # what Hydra's Optuna sweeper writes into the sweep folder
VARIANT_SECTIONS = ("model", "trainer")  # what a model config file may set (conf/model/*.yaml)
VARIANT_TRAINER_KEYS = ("batch_size", "patience", "max_epochs")  # the trials' training conditions, kept
VARIANT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def check_search_space(keys: list[str]) -> None:
    """Only model.* and trainer.* can be searched: the best trial must fit in a model config file."""
    outside = [key for key in keys if key.split(".", 1)[0] not in VARIANT_SECTIONS]
    if outside:
        raise ConfigError(
            f"hydra.sweeper.params={outside} is not allowed: a sweep searches keys under "
            f"{' or '.join(f'{s}.' for s in VARIANT_SECTIONS)} only, so its best trial can be "
            f"written as a model config"
        )


def variant_config(config: DictConfig, best_params: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """The sweep's model and trainer settings with the best trial's values: a model file's content."""
    named = OmegaConf.merge(config.model, {"name": name})  # a trial's name refers to its job: not resolvable here
    model = OmegaConf.to_container(named, resolve=True, enum_to_str=True)
    trainer = OmegaConf.to_container(config.trainer, resolve=True, enum_to_str=True)
    variant = {"model": model, "trainer": {key: trainer[key] for key in VARIANT_TRAINER_KEYS}}
    for key, value in best_params.items():
        section, field = key.split(".", 1)
        variant[section][field] = value
    return variant


def variant_yaml(variant: dict[str, dict[str, Any]], provenance: str) -> str:
    header = f"# @package _global_\n# Written by a sweep: {provenance}\n"
    return header + yaml.safe_dump(variant, sort_keys=False)


class SweepTracking(Callback):
    """Hydra callback (see ``conf/hparams_search/``): the sweep's MLflow run and its best variant."""

    def __init__(
        self,
        variant_name: str,
        model_dir: str,
        search_space: dict[str, Any] | None = None,
        direction: str = "maximize",
        objective: str = SelectionMetric.best_val_accuracy.value,
    ) -> None:
        """Check the sweep's settings here: Hydra turns an error raised in a callback's hooks into a warning."""
        if not VARIANT_NAME.match(variant_name):
            raise ConfigError(
                f"hydra.callbacks.sweep_tracking.variant_name={variant_name!r} is not allowed: "
                f"a name of letters, digits, '_' and '-' that starts with a letter"
            )
        self.search_space = dict(search_space or {})
        check_search_space(list(self.search_space))
        # what every trial returns (the train stage returns its seeds' mean of it); the enum or its name
        self.metric = SelectionMetric(str(objective).split(".")[-1])
        expected = "maximize" if self.metric.maximized else "minimize"
        if str(direction).split(".")[-1].lower() != expected:
            raise ConfigError(
                f"hydra.sweeper.direction={direction!r} is not allowed with "
                f"compare.metric={self.metric.value}: use {expected}"
            )
        self.variant_name, self.model_dir = variant_name, Path(model_dir)
        self.client: MlflowClient | None = None
        self.run_id: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        raise_on_sigterm()  # a terminated sweep still marks its run (atexit) instead of leaving it RUNNING
        # the store only: tracking.parent_run_id names the run this hook is about to open
        experiment_id = setup_tracking(
            TrackingConfig(uri=config.tracking.uri, experiment_name=config.tracking.experiment_name, parent_run_id=None)
        )
        self.client = MlflowClient()
        sweeper = OmegaConf.select(config, "hydra.sweeper", default={})
        run = self.client.create_run(
            experiment_id,
            run_name=f"sweep-{self.variant_name}",
            tags={
                **process_tags(),
                **lineage_tags("sweep"),
                "level": "sweep",
                "sweep_dir": str(config.hydra.sweep.dir),
            },
        )
        self.run_id = run.info.run_id
        space = {f"search.{key}": value for key, value in self.search_space.items()}
        settings = {f"sweeper.{key}": sweeper.get(key) for key in ("n_trials", "n_jobs", "direction") if key in sweeper}
        params = {
            **space,
            **settings,
            "base_model": config.hydra.runtime.choices.get("model"),
            "objective": self.metric.value,
        }
        self.client.log_batch(self.run_id, params=[Param(key, str(value)) for key, value in params.items()])
        os.environ[PARENT_RUN_ENV] = self.run_id
        atexit.register(self._end_unfinished)
        log.info("sweep run %s: every trial's run nests under it", self.run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.client is None or self.run_id is None:
            return
        results = Path(config.hydra.sweep.dir) / RESULTS_FILE
        if results.is_file():
            self._keep_best(config, results)
        self.client.set_terminated(self.run_id, "FINISHED")
        os.environ.pop(PARENT_RUN_ENV, None)
        self.run_id = None

    def _keep_best(self, config: DictConfig, results: Path) -> None:
        """Write the best trial as a model config file and record it on the sweep's run."""
        best = OmegaConf.to_container(OmegaConf.load(results))
        variant = variant_config(config, best["best_params"], self.variant_name)
        path = self.model_dir / f"{self.variant_name}.yaml"
        write_text(
            path,
            variant_yaml(
                variant,
                f"{config.hydra.sweep.dir}, best {self.metric.value} "
                f"{best['best_value']:.4f} on seed(s) {list(config.trainer.seeds)}",
            ),
        )
        self.client.log_metric(self.run_id, f"best_{self.metric.value}", float(best["best_value"]))
        self.client.log_artifact(self.run_id, str(results))
        self.client.log_artifact(self.run_id, str(path))
        self.client.set_tag(self.run_id, "best_variant_file", str(path))
        log.info(
            "best trial (%s %.4f) written to %s: train it with model=%s",
            self.metric.value,
            best["best_value"],
            path,
            self.variant_name,
        )

    def _end_unfinished(self) -> None:
        """A sweep that stopped early (an error, Ctrl-C, SIGTERM) leaves its run FAILED, not RUNNING forever."""
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id, "FAILED")
