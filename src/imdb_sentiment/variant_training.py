"""One variant across its seeds: train, log every run to MLflow, and write the DVC outputs."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import keras
import mlflow
import numpy as np

from imdb_sentiment.config import Config, flatten
from imdb_sentiment.features import load_configured_features
from imdb_sentiment.outputs import atomic_dir, write_json
from imdb_sentiment.models import INPUT_EXAMPLE_ROWS, model_summary
from imdb_sentiment.plots import history_figures
from imdb_sentiment.model_logging import log_keras_model
from imdb_sentiment.run_workers import epoch_metric_writer, run_finisher
from imdb_sentiment.runs import lineage_tags, log_dataset, log_params, tracked_run
from imdb_sentiment.tracking_store import setup_tracking
from imdb_sentiment.csr_batches import CsrRows
from imdb_sentiment.summaries import aggregate, history_csv
from imdb_sentiment.training import SeedResult, SeedTrainer

log = logging.getLogger(__name__)

def log_seed_artifacts(result: SeedResult, label: str, example: np.ndarray) -> None:
    """What a seed's run shows in the MLflow UI: curves, summary, history, and the servable model.

    The summary goes first: MLflow links a run's metrics to the model logged after them, so the model page
    shows the ``saved_*`` validation metrics, evaluated on the very weights it holds.
    """
    mlflow.log_metrics(result.summary)
    for name, figure in history_figures(result.history, label).items():
        mlflow.log_figure(figure, name)
    mlflow.log_text(model_summary(result.model), "model_summary.txt")
    mlflow.log_text(history_csv(result.history), "history.csv")
    log_keras_model(result.model, example.shape[1], example)


def train_variant(cfg: Config) -> dict:
    """The train stage: a parent MLflow run for the variant and a nested run per seed."""
    keras.utils.disable_interactive_logging()
    features = load_configured_features(cfg, splits=("train",))
    x_val, y_val = features.validation  # a sliced copy: take it once
    train_rows, validation_rows = CsrRows.from_csr(*features.partial_train), CsrRows.from_csr(x_val, y_val)
    example = x_val[:INPUT_EXAMPLE_ROWS].toarray()
    manifest = features.manifest
    del features, x_val, y_val  # TensorFlow holds its own copy now: dropping scipy's lowers the peak RSS
    variant = cfg.model.name
    models_dir = cfg.paths.variant_models(variant)
    reports_dir = cfg.paths.variant_reports(variant)
    setup_tracking(cfg.tracking)
    params = flatten(cfg)
    tags = lineage_tags("train", variant)  # one `git rev-parse` for the stage, not one per run
    seeds = SeedTrainer(cfg.model, cfg.trainer, train_rows, validation_rows)
    per_seed: dict[str, dict] = {}
    with atomic_dir(models_dir) as models_tmp, atomic_dir(reports_dir / "history") as history_tmp:
        with tracked_run(variant, {**tags, "level": "variant"}, parent_run_id=cfg.tracking.parent_run_id) as parent:
            log_params(params)
            log_dataset(cfg, manifest, "training")
            with run_finisher() as finisher:  # a seed's artifacts are logged while the next seed trains
                for seed in cfg.trainer.seeds:
                    run_name = f"{variant}-seed{seed}"
                    with tracked_run(run_name, {**tags, "level": "seed", "seed": str(seed)}, nested=True) as run:
                        log_params({**params, "trainer.seed": seed})
                        log_dataset(cfg, manifest, "training")
                        with epoch_metric_writer(run.info.run_id) as log_epoch:
                            result = seeds.fit(seed, on_epoch_end=log_epoch)
                    result.model.save(models_tmp / f"seed_{seed}.keras")  # before the finisher saves it too
                    (history_tmp / f"seed_{seed}.csv").write_text(history_csv(result.history))
                    finisher.submit(run.info.run_id, run_name,
                                    partial(log_seed_artifacts, result, f"{variant} seed {seed}", example))
                    per_seed[f"seed_{seed}"] = result.summary
                    log.info("%s seed %d: %s", variant, seed, result.summary)
            stats = aggregate(list(per_seed.values()))
            mlflow.log_metrics({f"{key}_{stat}": value for key, values in stats.items()
                                for stat, value in values.items()})
        metrics = {"variant": variant, "seeds": len(per_seed), "parent_run_id": parent.info.run_id, **stats,
                   "per_seed": per_seed}
        write_json(reports_dir / "metrics.json", metrics)
    return metrics
