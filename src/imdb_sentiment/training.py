"""Train one variant for one seed on the cached CSR matrices, never densifying them.

Batches are gathered from the CSR rows inside ``tf.data`` (a ragged gather per batch of shuffled row ids),
handed to Keras as ``tf.SparseTensor``: the same batches whether ``trainer.fast_path`` is on or off.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from imdb_sentiment.config import ModelConfig, Monitor, TrainerConfig
from imdb_sentiment.errors import TrainingDiverged
from imdb_sentiment.fast_path import SeedReset
from imdb_sentiment.models import build_model, compile_model, inference_model

log = logging.getLogger(__name__)

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
PREFETCH_BATCHES = 2  # batches prepared ahead on tf.data's thread


def fresh_session(deterministic: bool) -> None:
    """A clean Keras session, with TF's deterministic kernels when asked: same seed, same metrics."""
    keras.backend.clear_session()
    if deterministic:
        tf.config.experimental.enable_op_determinism()


@dataclass(frozen=True)
class CsrRows:
    """Multi-hot CSR rows and their labels as TF constants: made once a stage, shared by every seed."""

    columns: tf.RaggedTensor  # each row's column ids
    labels: tf.Tensor
    width: int

    @classmethod
    def from_csr(cls, x: sp.csr_matrix, y: np.ndarray) -> CsrRows:
        if x.dtype != np.float32:
            raise TypeError(f"features must be float32, got {x.dtype}")
        if not np.all(x.data == 1):
            raise ValueError("features must be multi-hot (every stored value 1)")
        # int32 as scipy stores them (half the memory of int64, no converted copy); row splits grow to int64
        # only past 2**31 non-zeros
        splits_dtype = np.int32 if x.nnz < np.iinfo(np.int32).max else np.int64
        columns = tf.RaggedTensor.from_row_splits(tf.constant(x.indices.astype(np.int32, copy=False)),
                                                  tf.constant(x.indptr.astype(splits_dtype, copy=False)),
                                                  validate=False)
        return cls(columns, tf.constant(np.asarray(y, dtype=np.float32).reshape(-1, 1)), x.shape[1])

    @property
    def rows(self) -> int:
        return int(self.labels.shape[0])


def sparse_batches(data: CsrRows, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    """Batches of (SparseTensor, labels) gathered from CSR rows; reshuffled every epoch like ``fit``."""

    def gather(row_ids):
        batch = tf.gather(data.columns, row_ids).to_sparse()  # values are the column ids
        indices = tf.stack([batch.indices[:, 0], tf.cast(batch.values, tf.int64)], axis=1)
        shape = tf.stack([tf.shape(row_ids, out_type=tf.int64)[0], tf.constant(data.width, tf.int64)])
        ones = tf.ones_like(batch.values, dtype=tf.float32)
        return tf.SparseTensor(indices, ones, shape), tf.gather(data.labels, row_ids)

    dataset = tf.data.Dataset.range(data.rows)
    if not shuffle:  # the same batches every epoch (validation): gather them once
        return dataset.batch(batch_size).map(gather).cache().prefetch(PREFETCH_BATCHES)
    dataset = dataset.shuffle(data.rows, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).map(gather).prefetch(PREFETCH_BATCHES)


EpochHook = Callable[[int, dict[str, float]], None]


class EpochEnd(keras.callbacks.Callback):
    """Calls ``hook(epoch, metrics)`` after each epoch, epochs counted from 1 (MLflow's ``step``)."""

    def __init__(self, hook: EpochHook):
        super().__init__()
        self.hook = hook

    def on_epoch_end(self, epoch, logs=None):
        self.hook(epoch + 1, {key: float(value) for key, value in (logs or {}).items()})


class StopOnDivergence(keras.callbacks.Callback):
    """Stop at once when the loss is NaN or infinite, naming the epoch and the settings that caused it."""

    def __init__(self, model_cfg: ModelConfig, trainer: TrainerConfig):
        super().__init__()
        self.model_cfg, self.trainer = model_cfg, trainer
        self.epoch = 1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            m = self.model_cfg
            raise TrainingDiverged(
                f"{m.name}: training diverged in epoch {self.epoch} (loss {loss}) with optimizer={m.optimizer.value} "
                f"learning_rate={m.learning_rate if m.learning_rate is not None else 'default'} loss={m.loss.value} "
                f"batch_size={self.trainer.batch_size}; lower model.learning_rate")


class EpochLog(keras.callbacks.Callback):
    """One line per epoch, so a user sees training move; silent when ``trainer.verbose`` is false."""

    def __init__(self, label: str, max_epochs: int):
        super().__init__()
        self.label, self.max_epochs = label, max_epochs

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        metrics = " ".join(f"{key} {logs[key]:.4f}" for key in HISTORY_KEYS if key in logs)
        log.info("%s epoch %d/%d: %s (%.2f s)", self.label, epoch + 1, self.max_epochs, metrics,
                 time.perf_counter() - self._started)


@dataclass
class SeedResult:
    seed: int
    history: dict[str, list[float]]
    summary: dict[str, float]
    model: keras.Model  # the plain, dense-input copy that is saved and served


def summarize(history: dict[str, list[float]], monitor: Monitor, seconds: float) -> dict[str, float]:
    """A seed's numbers, all taken at its best epoch: the one rule that ties the study together.

    The best epoch is the epoch with the best ``monitor`` (lowest ``val_loss`` or highest ``val_accuracy``;
    the first one on ties), the epoch early stopping keeps (``trainer.restore_best_weights``). Its
    ``val_accuracy`` and ``val_loss`` are what compare ranks by, and the median best epoch over seeds is the
    number of epochs retrain_final trains for. Epochs count from 1.
    """
    values = np.asarray(history[monitor.value])
    best = int(np.argmax(values) if monitor.maximized else np.argmin(values))
    return {"best_val_accuracy": float(history["val_accuracy"][best]), "best_val_loss": float(history["val_loss"][best]),
            "best_epoch": best + 1, "epochs_run": len(values), "train_seconds": seconds}


class SeedTrainer:
    """Fits the seeds of one variant. With ``trainer.fast_path`` the seeds share one compiled model, reset
    per seed (:class:`fast_path.SeedReset`), so its graphs are traced once; without, each seed gets a new
    model. Each seed starts from the state of a model built under it, its batches shuffled under it."""

    def __init__(self, model_cfg: ModelConfig, trainer: TrainerConfig, train: CsrRows, validation: CsrRows | None):
        fresh_session(trainer.deterministic)
        self.model_cfg, self.trainer, self.train = model_cfg, trainer, train
        self.validation_data = None if validation is None else \
            sparse_batches(validation, trainer.eval_batch_size, shuffle=False, seed=0)  # gathered once, all seeds
        self.model: keras.Model | None = None
        self.reset = SeedReset() if trainer.fast_path else None

    def start(self, seed: int) -> keras.Model:
        """The compiled model, in the state a model built under ``seed`` starts from."""
        keras.utils.set_random_seed(seed)
        fast_path = self.trainer.fast_path
        fresh = build_model(self.model_cfg, self.train.width, sparse=True, fast_path=fast_path)

        def compiled(model: keras.Model) -> keras.Model:
            return compile_model(model, self.model_cfg, self.trainer.steps_per_execution, fast_path=fast_path)

        self.model = compiled(fresh) if self.reset is None else self.reset.start(fresh, compiled)
        return self.model

    def fit(self, seed: int, on_epoch_end: EpochHook | None = None, epochs: int | None = None) -> SeedResult:
        """Fit one seed. With validation, early stopping on ``trainer.monitor``; without, ``epochs`` exactly."""
        trainer = self.trainer
        model = self.start(seed)
        batches = sparse_batches(self.train, trainer.batch_size, shuffle=True, seed=seed)
        all_callbacks: list[keras.callbacks.Callback] = [StopOnDivergence(self.model_cfg, trainer)]
        if on_epoch_end:
            all_callbacks.append(EpochEnd(on_epoch_end))
        if self.validation_data is not None:
            all_callbacks.insert(0, keras.callbacks.EarlyStopping(monitor=trainer.monitor.value, patience=trainer.patience,
                                                                  restore_best_weights=trainer.restore_best_weights))
        max_epochs = epochs or trainer.max_epochs
        if trainer.verbose:
            all_callbacks.append(EpochLog(f"{self.model_cfg.name} seed {seed}", max_epochs))
        started = time.perf_counter()
        fitted = model.fit(batches, validation_data=self.validation_data, epochs=max_epochs, callbacks=all_callbacks,
                           shuffle=False, verbose=0)  # shuffling happens in sparse_batches
        seconds = time.perf_counter() - started
        history = {key: [float(v) for v in values] for key, values in fitted.history.items()}
        if self.validation_data is None:
            summary = {"epochs_run": len(history["loss"]), "train_seconds": seconds}
        else:
            summary = {**summarize(history, trainer.monitor, seconds), **self.evaluate_saved(model)}
        return SeedResult(seed, history, summary, inference_model(model, self.model_cfg, self.train.width))

    def evaluate_saved(self, model: keras.Model) -> dict[str, float]:
        """Validation metrics of the weights the model now holds: those that are saved and logged."""
        scores = model.evaluate(self.validation_data, return_dict=True, verbose=0)
        return {"saved_val_accuracy": float(scores["accuracy"]), "saved_val_loss": float(scores["loss"])}


def train_seed(model_cfg: ModelConfig, trainer: TrainerConfig, seed: int, train: CsrRows,
               validation: CsrRows | None, on_epoch_end: EpochHook | None = None,
               epochs: int | None = None) -> SeedResult:
    """Fit a single seed (see :class:`SeedTrainer`, which a variant's seeds share)."""
    return SeedTrainer(model_cfg, trainer, train, validation).fit(seed, on_epoch_end, epochs)


def aggregate(summaries: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation across seeds of each summary metric (std 0 for one seed)."""
    ddof = 1 if len(summaries) > 1 else 0
    return {key: {"mean": float(np.mean([s[key] for s in summaries])),
                  "std": float(np.std([s[key] for s in summaries], ddof=ddof))} for key in summaries[0]}


def history_csv(history: dict[str, list[float]]) -> str:
    """The per-epoch history as CSV with an ``epoch`` column (what DVC plots reads)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = list(history)
    writer.writerow(["epoch", *keys])
    for epoch, values in enumerate(zip(*(history[key] for key in keys)), start=1):
        writer.writerow([epoch, *(f"{value:.6g}" for value in values)])
    return buffer.getvalue()
