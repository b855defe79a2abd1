"""Train one variant for one seed on the cached CSR matrices (:mod:`imdb_sentiment.model.batches`).

The trainer and its callbacks: early stopping on ``trainer.monitor``, a stop with the settings named when the
loss diverges, a log line per epoch and a hook for per-epoch metrics. A seed's summary follows the one rule
for "best" in :mod:`imdb_sentiment.model.summaries`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import tensorflow as tf

from imdb_sentiment.config.schema import ModelConfig, TrainerConfig
from imdb_sentiment.model.batches import CsrRows, sparse_batches
from imdb_sentiment.model.fast_path import SharedCompiledModel
from imdb_sentiment.model.networks import build_model, compile_model, inference_model
from imdb_sentiment.model.summaries import HISTORY_KEYS, summarize, tracked_names
from imdb_sentiment.runtime.errors import TrainingDiverged
from imdb_sentiment.runtime.signals import raise_if_stopped

log = logging.getLogger(__name__)


def fresh_session(deterministic: bool) -> None:
    """A clean Keras session, with TF's deterministic kernels when asked: same seed, same metrics."""
    keras.backend.clear_session()
    if deterministic:
        tf.config.experimental.enable_op_determinism()


EpochHook = Callable[[int, dict[str, float]], None]


def named_epochs(hook: EpochHook, loss: str) -> EpochHook:
    """``hook`` given each epoch's metrics under their tracked names (``train_accuracy``, ``val_loss_mse``...)."""
    return lambda epoch, metrics: hook(epoch, tracked_names(metrics, loss, train_prefix=True))


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
                f"batch_size={self.trainer.batch_size}; lower model.learning_rate"
            )


class StopOnSignal(keras.callbacks.Callback):
    """Stop at the next step once Ctrl-C or SIGTERM arrived, even if the raise in the handler was swallowed
    (by a native call or a library's broad ``except``): :mod:`imdb_sentiment.runtime.signals`."""

    def on_train_batch_end(self, batch, logs=None):
        raise_if_stopped()


class EpochLog(keras.callbacks.Callback):
    """One line per epoch, so a user sees training move; silent when ``trainer.verbose`` is false."""

    def __init__(self, label: str, max_epochs: int, patience: int | None, loss: str):
        super().__init__()
        stops = f", early stopping patience {patience}" if patience is not None else ""
        self.label, self.limit, self.loss = label, f"max {max_epochs}{stops}", loss

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        named = tracked_names({key: logs[key] for key in HISTORY_KEYS if key in (logs or {})}, self.loss)
        metrics = " ".join(f"{key} {value:.4f}" for key, value in named.items())
        log.info(
            "%s epoch %d (%s): %s (%.2f s)",
            self.label,
            epoch + 1,
            self.limit,
            metrics,
            time.perf_counter() - self._started,
        )


@dataclass
class SeedResult:
    seed: int
    history: dict[str, list[float]]
    summary: dict[str, float]
    model: keras.Model  # the plain, dense-input copy that is saved and served


class SeedTrainer:
    """Fits the seeds of one variant. With ``trainer.fast_path`` the seeds share one compiled model, reset
    per seed (:class:`fast_path.SharedCompiledModel`), so its graphs are traced once; without, each seed gets a new
    model. Each seed starts from the state of a model built under it, its batches shuffled under it."""

    def __init__(self, model_cfg: ModelConfig, trainer: TrainerConfig, train: CsrRows, validation: CsrRows | None):
        fresh_session(trainer.deterministic)
        if trainer.batch_size > train.rows:
            log.warning(
                "trainer.batch_size=%d is larger than the %d training rows: every epoch is one step of all of them "
                "(a smaller batch gives the optimizer more steps)",
                trainer.batch_size,
                train.rows,
            )
        self.model_cfg, self.trainer, self.train = model_cfg, trainer, train
        self.validation_data = (
            None if validation is None else sparse_batches(validation, trainer.eval_batch_size, shuffle=False, seed=0)
        )  # gathered once, all seeds
        self.model: keras.Model | None = None
        self.reset = SharedCompiledModel() if trainer.fast_path else None

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
        all_callbacks: list[keras.callbacks.Callback] = [StopOnSignal(), StopOnDivergence(self.model_cfg, trainer)]
        if on_epoch_end:
            all_callbacks.append(EpochEnd(on_epoch_end))
        if self.validation_data is not None:
            all_callbacks.insert(
                0,
                keras.callbacks.EarlyStopping(
                    monitor=trainer.monitor.value,
                    patience=trainer.patience,
                    restore_best_weights=trainer.restore_best_weights,
                ),
            )
        max_epochs = epochs or trainer.max_epochs
        if trainer.verbose:
            patience = trainer.patience if self.validation_data is not None else None  # it needs validation data
            all_callbacks.append(
                EpochLog(f"{self.model_cfg.name} seed {seed}", max_epochs, patience, self.model_cfg.loss.value)
            )
        started = time.perf_counter()
        fitted = model.fit(
            batches,
            validation_data=self.validation_data,
            epochs=max_epochs,
            callbacks=all_callbacks,
            shuffle=False,
            verbose=0,
        )  # shuffling happens in sparse_batches
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
        return {f"saved_val_{key}": float(scores[key]) for key in ("accuracy", "bce", "loss")}


def train_seed(
    model_cfg: ModelConfig,
    trainer: TrainerConfig,
    seed: int,
    train: CsrRows,
    validation: CsrRows | None,
    on_epoch_end: EpochHook | None = None,
    epochs: int | None = None,
) -> SeedResult:
    """Fit a single seed (see :class:`SeedTrainer`, which a variant's seeds share)."""
    return SeedTrainer(model_cfg, trainer, train, validation).fit(seed, on_epoch_end, epochs)
