"""What the MLflow UI says about the study: the experiment's kind and the descriptions of it and of its runs.

A description is MLflow's note tag (``mlflow.note.content``, shown as the run's or experiment's Description);
the experiment kind tag (``mlflow.experimentKind``) files the experiment under MLflow's "Machine learning"
workflow, beside training runs, not GenAI traces. Text only: no MLflow calls here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

if TYPE_CHECKING:
    from imdb_sentiment.config.schema import Config

DESCRIPTION = MLFLOW_RUN_NOTE  # the same tag describes a run and an experiment
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"  # what the UI's "Machine learning" kind writes

EXPERIMENT_DESCRIPTION = """The IMDB review classifier study: small Keras networks on 10,000-word multi-hot \
review vectors, labelled positive or negative.

- **train** runs (`level=variant`): one per variant, its metrics the mean over its seeds (`<name>_std` beside),
  with a nested run per seed (`level=seed`), each keeping its best epoch by the validation loss.
- **compare**: the variants ranked by the mean validation accuracy; its description is the comparison.
- **final-<variant>**: the winner retrained from scratch and scored on the 25,000 test reviews, registered as
  `imdb-sentiment` (Keras) and `imdb-sentiment-text` (raw review text); `@champion` moves only on merit.
"""


def network(cfg: Config) -> str:
    """The variant's network in one line: layers, units, activation, regularisation, optimiser and loss."""
    model = cfg.model
    parts = [
        f"{model.hidden_layers} hidden layer(s) of {model.units} {model.activation.value} units"
        if model.hidden_layers
        else "no hidden layer (a logistic regression)"
    ]
    if model.regularizer.value != "none":
        parts.append(f"{model.regularizer.value} regularisation {model.regularization:g}")
    if model.dropout:
        parts.append(f"dropout {model.dropout:g}")
    rate = "default rate" if model.learning_rate is None else f"rate {model.learning_rate:g}"
    parts.append(f"{model.optimizer.value} ({rate}), {model.loss.value} loss")
    return ", ".join(parts)


def features(cfg: Config) -> str:
    """The feature set in a few words: its name, the words and any bigrams."""
    bigrams = f" + {cfg.features.bigrams:,} bigrams" if cfg.features.bigrams else ""
    return f"`{cfg.features.name}` ({cfg.data.num_words:,} words{bigrams})"


def variant_description(cfg: Config) -> str:
    seeds = ", ".join(str(seed) for seed in cfg.trainer.seeds)
    return (
        f"Variant **{cfg.model.name}** on features {features(cfg)}: {network(cfg)}; "
        f"batch {cfg.trainer.batch_size}, up to "
        f"{cfg.trainer.max_epochs} epochs, patience {cfg.trainer.patience} on {cfg.trainer.monitor.value}. "
        f"Trained over seeds {seeds} (one nested run each). Each metric is the mean over the seeds, "
        f"`<name>_std` its standard deviation."
    )


def seed_description(cfg: Config, seed: int) -> str:
    return (
        f"Variant **{cfg.model.name}**, seed {seed}: {network(cfg)}. Trained on the training rows after the first "
        f"{cfg.features.validation_rows} (held out for validation); the logged model holds the weights of the "
        f"best epoch by {cfg.trainer.monitor.value}, whose numbers are the best_* and saved_* metrics."
    )


def final_description(cfg: Config, epochs: int, train_rows: int, test_rows: int, metrics: dict) -> str:
    """What was retrained on what, and how it scored on the test reviews."""
    on = (
        "partial: the training split without its validation rows"
        if cfg.final.train_on.value == "partial"
        else ("full: the whole training split, validation rows included")
    )
    return (
        f"**{cfg.model.name}** (chosen by compare) retrained from scratch with seed {cfg.final.seed} for {epochs} "
        f"epochs on {train_rows} training reviews ({on}), features {features(cfg)}. Test ({test_rows} reviews): "
        f"accuracy {metrics['test_accuracy']:.4f}, ROC AUC {metrics['test_roc_auc']:.4f}, F1 "
        f"{metrics['test_f1']:.4f}, cross-entropy {metrics['test_bce']:.4f}, its training loss "
        f"({cfg.model.loss.value}) {metrics['test_loss']:.4f}. The `train_*` metrics are the training reviews' "
        "(per epoch), the `test_*` ones the test reviews'."
    )


def sweep_description(cfg) -> str:
    """The sweep run's: the study, what it searches and how, and where its answer goes (``SweepAppConfig``)."""
    sweep = cfg.sweep
    return (
        f"Optuna study **{sweep.study_name}**: {sweep.n_trials} trials searching {', '.join(sweep.params)} "
        f"around {cfg.model.name}, each a nested train run on seed(s) {list(cfg.trainer.seeds)} that returns its "
        f"{cfg.compare.metric.value} ({sweep.direction.value}); pruner {sweep.pruner.value}. The best trial's "
        f"settings are written to {sweep.model_dir}/{sweep.variant_name}.yaml (an artifact here)."
    )
