"""The retrain_final stage: train the chosen variant from scratch, evaluate it, write it, register it.

:func:`retrain_final` reads as those four steps, each a function here, inside one MLflow run. The scores come
from :mod:`imdb_sentiment.model.evaluate`, the registry rule from :mod:`imdb_sentiment.registry.promote`, and compare's
choice from :mod:`imdb_sentiment.config.choice` (which the stage reads before TensorFlow is imported).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import mlflow
import numpy as np
import scipy.sparse as sp

from imdb_sentiment.config.schema import Config, flatten
from imdb_sentiment.data.features import BIGRAMS, load_configured_features
from imdb_sentiment.data.manifest import Manifest
from imdb_sentiment.final.error_analysis import error_table
from imdb_sentiment.final.figures import write_final_figures
from imdb_sentiment.final.reports import write_final_reports
from imdb_sentiment.model.batches import CsrRows
from imdb_sentiment.model.evaluate import binary_metrics, predict_proba, predictions_csv
from imdb_sentiment.model.networks import INPUT_EXAMPLE_ROWS, model_summary
from imdb_sentiment.model.summaries import history_csv, tracked_names
from imdb_sentiment.model.training import SeedResult, named_epochs, train_seed
from imdb_sentiment.runtime.errors import DataError
from imdb_sentiment.runtime.outputs import atomic_dir, write_text
from imdb_sentiment.serve.package import log_text_model
from imdb_sentiment.tracking.datasets import log_dataset, log_test_dataset
from imdb_sentiment.tracking.descriptions import DESCRIPTION, final_description
from imdb_sentiment.tracking.lineage import lineage_tags
from imdb_sentiment.tracking.model_logging import log_keras_model
from imdb_sentiment.tracking.records import write_final_runs
from imdb_sentiment.tracking.run_workers import epoch_metric_writer
from imdb_sentiment.tracking.runs import TRAINING, log_params, tracked_run
from imdb_sentiment.tracking.store import setup_tracking

log = logging.getLogger(__name__)
# The final run is its training settings and final's own: not the validation-only trainer settings (no
# validation here), nor where the model is registered, nor the notebook's re-run (the baselines stage's).
NOT_FINAL_PARAMS = (
    "trainer.seeds",
    "trainer.max_epochs",
    "trainer.patience",
    "trainer.monitor",
    "trainer.restore_best_weights",
    "trainer.eval_batch_size",
    "trainer.chance_margin",
    "final.registered_model_name",
    "final.text_model_name",
    "final.alias",
    "final.notebook_",
)


@dataclass
class FinalData:
    train: CsrRows  # the rows final.train_on names, as TF constants
    x_test: sp.csr_matrix
    y_test: np.ndarray
    manifest: Manifest


def load_final_data(cfg: Config) -> FinalData:
    """The training rows and the test split; the features object is dropped (TensorFlow holds the rows now)."""
    features = load_configured_features(cfg, splits=("train", "test"))
    train_on = cfg.final.train_on
    train = CsrRows.from_csr(*features.training_rows(train_on), features.column_scale(train_on))
    (x_test, y_test), manifest = features.test, features.manifest
    return FinalData(train, x_test, y_test, manifest)


def train_final(cfg: Config, data: FinalData, epochs: int, run_id: str) -> SeedResult:
    """Fit ``final.seed`` for ``epochs``, logging the params, the dataset and each epoch's metrics."""
    flat = {**flatten(cfg), "final.epochs": epochs, "final.train_rows": data.train.rows}
    log_params(flat, keep=(*TRAINING, "final."), drop=NOT_FINAL_PARAMS)
    mlflow.set_tag("loss_function", cfg.model.loss.value)
    log_dataset(cfg, data.manifest, "training")
    with epoch_metric_writer(run_id, cfg.tracking.background_writes) as log_epoch:
        hook = named_epochs(log_epoch, cfg.model.loss.value)  # train_accuracy, train_loss_mse: not test_*
        return train_seed(cfg.model, cfg.trainer, cfg.final.seed, data.train, None, on_epoch_end=hook, epochs=epochs)


def evaluate(cfg: Config, result: SeedResult, data: FinalData, epochs: int) -> tuple[np.ndarray, dict]:
    """The test probabilities and the metrics; the training numbers logged to the run, and the run's description,
    which says what was retrained on what and how it scored. The test scores are logged with the models
    (:func:`log_models`), tied to them and to the test split."""
    prob = predict_proba(result.model, data.x_test)
    metrics = binary_metrics(data.y_test, prob, cfg.final.threshold, cfg.model.loss)
    training = {"epochs": epochs, "train_rows": data.train.rows, "train_seconds": result.summary["train_seconds"]}
    mlflow.log_metrics(training)
    metrics.update(training)
    mlflow.set_tag(DESCRIPTION, final_description(cfg, epochs, data.train.rows, data.x_test.shape[0], metrics))
    return prob, metrics


def architecture_diagram(model, path: Path) -> str | None:
    """``keras.utils.plot_model`` needs pydot and Graphviz's ``dot``; without them, say so and go on."""
    try:
        keras.utils.plot_model(model, to_file=str(path), show_shapes=True, show_layer_names=True)
    except (ImportError, OSError, FileNotFoundError, RuntimeError) as exc:
        message = f"no architecture diagram: {exc} (install Graphviz, e.g. apt-get install graphviz)"
        log.warning(message)
        return message
    return None


def write_plots(cfg: Config, result: SeedResult, y_test: np.ndarray, prob: np.ndarray, plots_dir: Path) -> str | None:
    """Confusion matrix, ROC, PR and calibration curves, probabilities, training curves and architecture; the
    note that there is no diagram, if there is none."""
    write_final_figures(plots_dir, result.history, y_test, prob, cfg.final.threshold, cfg.model.loss.value)
    return architecture_diagram(result.model, plots_dir / "architecture.png")


def write_outputs(
    cfg: Config, result: SeedResult, y_test: np.ndarray, prob: np.ndarray, model_dir: Path, reports: Path
) -> str | None:
    """The model, plots and texts of the final reports, the plots and texts logged to the run too."""
    result.model.save(model_dir / "model.keras")
    write_text(reports / "errors.md", error_table(cfg, y_test, prob))
    (reports / "plots").mkdir()
    diagram_note = write_plots(cfg, result, y_test, prob, reports / "plots")
    write_text(reports / "model_summary.txt", model_summary(result.model))
    write_text(reports / "predictions.csv", predictions_csv(y_test, prob, cfg.final.threshold))
    write_text(reports / "history.csv", history_csv(result.history))
    mlflow.log_artifacts(str(reports / "plots"), "plots")
    for name in ("model_summary.txt", "history.csv", "errors.md"):
        mlflow.log_artifact(str(reports / name))
    return diagram_note


def log_models(
    cfg: Config, result: SeedResult, data: FinalData, keras_path: Path, scratch: Path, metrics: dict
) -> dict[str, str]:
    """Log the Keras model (``final-<variant>``) and the raw-text model around it (``final-<variant>-text``);
    their URIs, which the register stage registers.

    The test scores go to the run and to both models at once, with the test split, logged as the run's
    ``testing`` input: after both models, since MLflow copies a run's earlier metrics to a new model without
    their dataset."""
    example = data.x_test[:INPUT_EXAMPLE_ROWS].toarray()
    name = f"final-{cfg.model.name}"
    keras_info = log_keras_model(result.model, data.manifest.width, example, name)
    word_index = Path(cfg.paths.raw_dir) / cfg.data.word_index_file
    bigrams = Path(cfg.paths.processed_dir) / BIGRAMS
    text_info = log_text_model(result.model, keras_path, word_index, bigrams, cfg, scratch, name=f"{name}-text")
    test_split = log_test_dataset(cfg, data.manifest)
    scores = tracked_names({k: v for k, v in metrics.items() if k.startswith("test_")}, cfg.model.loss.value)
    for info in (keras_info, text_info):
        mlflow.log_metrics(scores, model_id=info.model_id, dataset=test_split)
    return {"keras_model_uri": keras_info.model_uri, "text_model_uri": text_info.model_uri}


def retrain_final(cfg: Config, choice: dict) -> dict:
    """The final stage: train from scratch on ``final.train_on``, evaluate on the test reviews, write the model
    and its reports, and log both models to the run."""
    keras.utils.disable_interactive_logging()
    if choice["variant"] != cfg.model.name:
        raise DataError(f"best.json chose {choice['variant']} but the config composed {cfg.model.name}")
    data = load_final_data(cfg)
    epochs = int(choice["epochs"])
    setup_tracking(cfg.tracking)
    tags = {**lineage_tags("final", cfg.model.name), "chosen_by": "compare"}
    with tracked_run(f"final-{cfg.model.name}", tags) as run:
        result = train_final(cfg, data, epochs, run.info.run_id)
        prob, metrics = evaluate(cfg, result, data, epochs)
        # the model and every report are put in place together, before the run ends FINISHED
        with (
            atomic_dir(Path(cfg.paths.final_models)) as model_tmp,
            atomic_dir(Path(cfg.paths.final_reports)) as reports_tmp,
            tempfile.TemporaryDirectory() as scratch,
        ):
            diagram_note = write_outputs(cfg, result, data.y_test, prob, model_tmp, reports_tmp)
            models = log_models(cfg, result, data, model_tmp / "model.keras", Path(scratch), metrics)
            write_final_runs(model_tmp, run.info.run_id, **models)
            record = {"variant": cfg.model.name, "train_on": cfg.final.train_on.value, "features": cfg.features.name}
            if diagram_note:
                record["architecture_diagram"] = diagram_note
            write_final_reports(reports_tmp, metrics, record, data.y_test, prob)
    return {**metrics, **record, **models, "run_id": run.info.run_id}
