"""One variant across its seeds: train, log every run to MLflow, and write the DVC outputs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import keras
import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.entities import Metric

from imdb_sentiment.config.schema import Config, TrainOn, flatten
from imdb_sentiment.data.features import load_configured_features
from imdb_sentiment.data.manifest import Manifest
from imdb_sentiment.model.batches import CsrRows
from imdb_sentiment.model.networks import INPUT_EXAMPLE_ROWS, model_summary
from imdb_sentiment.model.summaries import (
    aggregate,
    history_csv,
    loss_name,
    mean_history,
    parent_run_metrics,
    spread_history,
    tracked_names,
    variant_metrics,
    within_chance,
)
from imdb_sentiment.model.training import EpochHook, SeedResult, SeedTrainer, named_epochs
from imdb_sentiment.runtime.outputs import atomic_dir, write_json, write_text
from imdb_sentiment.tracking.datasets import log_dataset
from imdb_sentiment.tracking.descriptions import DESCRIPTION, seed_description, variant_description
from imdb_sentiment.tracking.lineage import lineage_tags
from imdb_sentiment.tracking.model_logging import log_keras_model
from imdb_sentiment.tracking.records import write_variant_runs
from imdb_sentiment.tracking.run_workers import RunFinisher, epoch_metric_writer, run_finisher
from imdb_sentiment.tracking.runs import log_params, open_run, tracked_run
from imdb_sentiment.tracking.store import setup_tracking
from imdb_sentiment.train.figures import history_figures

log = logging.getLogger(__name__)
SeedEpochHook = Callable[[int, int, dict[str, float]], None]  # (seed, epoch, metrics)


def both_hooks(log_epoch: EpochHook, seed: int, extra: SeedEpochHook | None) -> EpochHook:
    """The epoch's metrics logged first, then handed to ``extra``: a pruned trial's runs hold its last epoch."""
    if extra is None:
        return log_epoch

    def hook(epoch: int, metrics: dict[str, float]) -> None:
        log_epoch(epoch, metrics)
        extra(seed, epoch, metrics)

    return hook


def log_seed_artifacts(
    run_id: str, result: SeedResult, model_name: str, label: str, example: np.ndarray, loss: str
) -> None:
    """What a seed's run shows in the MLflow UI: curves, summary, history, and the servable model.

    The summary goes first: MLflow links a run's metrics to the model logged after them, so the model page
    shows the ``saved_*`` validation metrics, evaluated on the very weights it holds.
    """
    client = MlflowClient()
    mlflow.log_metrics(tracked_names(result.summary, loss), run_id=run_id)
    for name, figure in history_figures(result.history, label, loss).items():
        client.log_figure(run_id, figure, name)
    client.log_text(run_id, model_summary(result.model), "model_summary.txt")
    client.log_text(run_id, history_csv(result.history), "history.csv")
    log_keras_model(result.model, example.shape[1], example, model_name, run_id=run_id)


def load_training_rows(cfg: Config) -> tuple[CsrRows, CsrRows, np.ndarray, Manifest]:
    """The training and validation rows (held by TensorFlow), the input example, the manifest.

    Returning drops scipy's copies of the rows, which lowers the stage's peak RSS.
    """
    features = load_configured_features(cfg, splits=("train",))
    x_val, y_val = features.validation  # a sliced copy: take it once
    scale = features.column_scale(TrainOn.partial)  # fitted on the partial-train rows, never the validation rows
    train_rows, validation_rows = CsrRows.from_csr(*features.partial_train, scale), CsrRows.from_csr(x_val, y_val)
    return train_rows, validation_rows, x_val[:INPUT_EXAMPLE_ROWS].toarray(), features.manifest


@dataclass(frozen=True)
class VariantStage:
    """What every seed run of a train stage shares."""

    cfg: Config
    seeds: SeedTrainer
    manifest: Manifest
    example: np.ndarray
    params: dict
    tags: dict[str, str]  # one `git rev-parse` for the stage, not one per run


def train_seed_run(
    stage: VariantStage,
    seed: int,
    parent: mlflow.ActiveRun,
    finisher: RunFinisher,
    models_tmp: Path,
    history_tmp: Path,
    on_epoch_end: SeedEpochHook | None = None,
) -> tuple[str, SeedResult]:
    """One seed in its own run: params, dataset and per-epoch metrics here, the DVC outputs, then the run
    handed, still open, to the finisher, which logs its artifacts while the next seed trains and ends it."""
    variant = stage.cfg.model.name
    run_name = f"{variant}-seed{seed}"
    tags = {**stage.tags, "level": "seed", "seed": str(seed), DESCRIPTION: seed_description(stage.cfg, seed)}
    loss = stage.cfg.model.loss.value
    with open_run(run_name, tags, parent) as run_id:
        log_params({**stage.params, "trainer.seed": seed}, run_id, drop=("trainer.seeds",))
        log_dataset(stage.cfg, stage.manifest, "training", run_id)
        with epoch_metric_writer(run_id, stage.cfg.tracking.background_writes) as log_epoch:
            result = stage.seeds.fit(seed, on_epoch_end=both_hooks(named_epochs(log_epoch, loss), seed, on_epoch_end))
        result.model.save(models_tmp / f"seed_{seed}.keras")  # before the finisher saves it too
        (history_tmp / f"seed_{seed}.csv").write_text(history_csv(result.history))
        finisher.submit(
            run_id,
            run_name,
            partial(log_seed_artifacts, run_id, result, run_name, f"{variant} seed {seed}", stage.example, loss),
        )
    s = result.summary
    log.info(
        "%s seed %d: best epoch %d of %d, val_accuracy %.4f, val_bce %.4f, val_loss_%s %.4f (%.1f s)",
        variant,
        seed,
        s["best_epoch"],
        s["epochs_run"],
        s["best_val_accuracy"],
        s["best_val_bce"],
        loss_name(loss),
        s["best_val_loss"],
        s["train_seconds"],
    )
    return run_id, result


def flag_learning(cfg: Config, results: dict[int, tuple[str, SeedResult]]) -> bool:
    """Whether the variant learned; if not (validation accuracy at chance on every epoch of every seed), say so
    in the log and on its run, whose summary numbers would otherwise read like any other variant's."""
    margin = cfg.trainer.chance_margin
    learned = not within_chance([r.history["val_accuracy"] for _, r in results.values()], margin)
    mlflow.set_tag("learned", str(learned).lower())
    if not learned:
        note = (
            f"did not learn (chance): validation accuracy within 0.5 ± {margin} on every epoch of every seed "
            "(it predicts one class); compare never chooses it"
        )
        log.warning("%s %s", cfg.model.name, note)
        mlflow.set_tag(DESCRIPTION, f"{variant_description(cfg)}\n\n**{cfg.model.name} {note}.**")
    return learned


def log_mean_curves(
    run_id: str, mean: dict[str, list[float]], spread: dict[str, list[float | None]], loss: str
) -> None:
    """The seeds' per-epoch mean (and ``<name>_std``) on the variant's run, under the seed runs' names, so MLflow's
    chart view overlays the variants' curves as it does their seeds'."""
    curves = {
        **tracked_names(mean, loss, train_prefix=True),
        **tracked_names({f"{k}_std": v for k, v in spread.items()}, loss, train_prefix=True),
    }
    now = int(time.time() * 1000)
    metrics = [
        Metric(key, value, now, epoch)
        for key, values in curves.items()
        for epoch, value in enumerate(values, start=1)
        if value is not None
    ]
    client = MlflowClient()
    for start in range(0, len(metrics), 1000):  # MLflow's log_batch takes at most 1,000 metrics
        client.log_batch(run_id, metrics=metrics[start : start + 1000])


def write_variant_reports(
    reports_dir: Path,
    models_dir: Path,
    variant: str,
    run_id: str,
    results: dict[int, tuple[str, SeedResult]],
    learned: bool,
    loss: str,
    mean: dict[str, list[float]],
) -> dict:
    """The train stage's reports: ``metrics.json`` (few flat numbers, DVC's metrics), ``seeds.json`` (each
    seed's numbers: what compare reads) and the seeds' mean curves. The run ids of this store go beside the
    models (``runs.json``, DVC-cached): git holds numbers a clone can trust, not ids of one person's store."""
    metrics = {**variant_metrics([r.summary for _, r in results.values()]), "learned": int(learned)}
    seeds = {str(seed): r.summary for seed, (_, r) in results.items()}
    write_json(reports_dir / "metrics.json", metrics)
    write_json(reports_dir / "seeds.json", {"variant": variant, "loss_function": loss, "seeds": seeds})
    write_text(reports_dir / "history_mean.csv", history_csv(mean))
    write_variant_runs(models_dir, variant, run_id, {seed: run for seed, (run, _) in results.items()})
    return metrics


def train_variant(cfg: Config, on_epoch_end: SeedEpochHook | None = None) -> dict:
    """The train stage: a parent MLflow run for the variant and a nested run per seed.

    ``on_epoch_end(seed, epoch, metrics)`` sees every epoch of every seed (a sweep prunes with it)."""
    keras.utils.disable_interactive_logging()
    train_rows, validation_rows, example, manifest = load_training_rows(cfg)
    variant = cfg.model.name
    models_dir = cfg.paths.variant_models(variant)
    reports_dir = cfg.paths.variant_reports(variant)
    setup_tracking(cfg.tracking)
    stage = VariantStage(
        cfg,
        SeedTrainer(cfg.model, cfg.trainer, train_rows, validation_rows),
        manifest,
        example,
        flatten(cfg),
        {**lineage_tags("train", variant), **cfg.tracking.tags},
    )
    # the outputs are put in place before the run ends FINISHED: a stage that cannot write them ends it FAILED
    with (
        tracked_run(
            variant,
            {**stage.tags, "level": "variant", DESCRIPTION: variant_description(cfg)},
            parent_run_id=cfg.tracking.parent_run_id,
        ) as parent,
        atomic_dir(models_dir) as models_tmp,
        atomic_dir(reports_dir) as reports_tmp,
    ):
        history_tmp = reports_tmp / "history"
        history_tmp.mkdir()
        log_params(stage.params)
        mlflow.set_tag("loss_function", cfg.model.loss.value)
        log_dataset(cfg, manifest, "training")
        # a seed's artifacts are logged while the next seed trains (tracking.background_writes)
        with run_finisher(cfg.tracking.background_writes) as finisher:
            results = {
                seed: train_seed_run(stage, seed, parent, finisher, models_tmp, history_tmp, on_epoch_end)
                for seed in cfg.trainer.seeds
            }
        loss = cfg.model.loss.value
        stats = aggregate([r.summary for _, r in results.values()])
        mlflow.log_metrics(tracked_names(parent_run_metrics(stats), loss))
        histories = [r.history for _, r in results.values()]
        mean = mean_history(histories)
        log_mean_curves(parent.info.run_id, mean, spread_history(histories), loss)
        learned = flag_learning(cfg, results)
        return write_variant_reports(reports_tmp, models_tmp, variant, parent.info.run_id, results, learned, loss, mean)
