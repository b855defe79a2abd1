"""Train one variant for one seed on the cached CSR matrices (:mod:`imdb_sentiment.model.batches`).

With ``trainer.fast_path`` (the default) the speed layer's PyTorch loop fits every variant it supports
(:mod:`imdb_sentiment.model.fast_path`); otherwise, and for the optimizers it leaves out, stock Keras on
TensorFlow does. Either way the model returned is a plain Keras model of the trained weights.

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

from imdb_sentiment.config.schema import ModelConfig, TrainerConfig
from imdb_sentiment.model.batches import CsrRows, sparse_batches
from imdb_sentiment.model.networks import (
    build_model,
    compile_model,
    fold_column_scale,
    inference_model,
    initial_weights,
)
from imdb_sentiment.model.summaries import HISTORY_KEYS, summarize, tracked_names
from imdb_sentiment.runtime.errors import TrainingDiverged
from imdb_sentiment.runtime.signals import raise_if_stopped

log = logging.getLogger(__name__)


def fresh_session(deterministic: bool) -> None:
    """A clean Keras session, with TF's deterministic kernels when asked: same seed, same metrics."""
    keras.backend.clear_session()
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def uses_loop(model_cfg: ModelConfig, trainer: TrainerConfig) -> bool:
    """Whether the speed layer's PyTorch loop fits this variant (else stock Keras on TensorFlow)."""
    if not trainer.fast_path:
        return False
    from imdb_sentiment.model import fast_path

    return fast_path.supports(model_cfg)


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


def check_step(model_cfg: ModelConfig, trainer: TrainerConfig, epoch: int, loss: float) -> None:
    """Stop at once when Ctrl-C or SIGTERM arrived (:mod:`imdb_sentiment.runtime.signals`: even if the raise in
    the handler was swallowed by a native call), or when the loss is NaN or infinite, naming the epoch and the
    settings that caused it."""
    raise_if_stopped()
    if not math.isfinite(loss):
        m = model_cfg
        raise TrainingDiverged(
            f"{m.name}: training diverged in epoch {epoch} (loss {loss}) with optimizer={m.optimizer.value} "
            f"learning_rate={m.learning_rate if m.learning_rate is not None else 'default'} loss={m.loss.value} "
            f"batch_size={trainer.batch_size}; lower model.learning_rate"
        )


class StopOnDivergence(keras.callbacks.Callback):
    """:func:`check_step` after every Keras step."""

    def __init__(self, model_cfg: ModelConfig, trainer: TrainerConfig):
        super().__init__()
        self.model_cfg, self.trainer = model_cfg, trainer
        self.epoch = 1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        check_step(self.model_cfg, self.trainer, self.epoch, float((logs or {}).get("loss", 0.0)))


class EpochLog:
    """One line per epoch, so a user sees training move; silent when ``trainer.verbose`` is false. Called with
    each epoch's metrics (epochs from 1); it times the epoch since the previous call."""

    def __init__(self, label: str, max_epochs: int, patience: int | None, loss: str):
        stops = f", early stopping patience {patience}" if patience is not None else ""
        self.label, self.limit, self.loss = label, f"max {max_epochs}{stops}", loss
        self.started = time.perf_counter()

    def __call__(self, epoch: int, logs: dict[str, float]) -> None:
        named = tracked_names({key: logs[key] for key in HISTORY_KEYS if key in logs}, self.loss)
        metrics = " ".join(f"{key} {value:.4f}" for key, value in named.items())
        seconds, self.started = time.perf_counter() - self.started, time.perf_counter()
        log.info("%s epoch %d (%s): %s (%.2f s)", self.label, epoch, self.limit, metrics, seconds)


@dataclass
class SeedResult:
    seed: int
    history: dict[str, list[float]]
    summary: dict[str, float]
    model: keras.Model  # the plain, dense-input copy that is saved and served (any column scale folded in)


class SeedTrainer:
    """Fits the seeds of one variant, each from the weights of a Keras model built under that seed, its batches
    shuffled under it: in the speed layer's PyTorch loop when :func:`uses_loop`, else with Keras's ``fit``."""

    def __init__(self, model_cfg: ModelConfig, trainer: TrainerConfig, train: CsrRows, validation: CsrRows | None):
        fresh_session(trainer.deterministic)
        if trainer.batch_size > train.rows:
            log.warning(
                "trainer.batch_size=%d is larger than the %d training rows: every epoch is one step of all of them "
                "(a smaller batch gives the optimizer more steps)",
                trainer.batch_size,
                train.rows,
            )
        self.model_cfg, self.trainer, self.train, self.validation = model_cfg, trainer, train, validation
        self.loop = None
        if uses_loop(model_cfg, trainer):
            from imdb_sentiment.model import fast_path

            self.loop = fast_path.Loop(model_cfg, trainer, train.x, train.y, train.scale)
            scale = fast_path.column_scale(train.scale)  # validation rows seen as the training rows are
            self.validation_data = (
                None
                if validation is None
                else fast_path.batches(validation.x, validation.y, trainer.eval_batch_size, scale=scale)
            )  # cut once, all seeds
        else:
            self.validation_data = (
                None
                if validation is None
                else sparse_batches(validation.with_scale(train.scale), trainer.eval_batch_size, shuffle=False, seed=0)
            )  # gathered once, all seeds

    def initial_model(self, seed: int) -> keras.Model:
        """The variant's Keras model holding the weights ``seed`` starts from (:func:`networks.initial_weights`)."""
        if self.loop is None:  # Keras's fit: its dropout draws from Keras's seeded generators
            keras.utils.set_random_seed(seed)  # (it seeds TensorFlow, which the loop's processes never load)
        model = build_model(self.model_cfg, self.train.width, sparse=self.loop is None)
        model.set_weights(initial_weights(model, seed))
        return model

    def checks(self, seed: int, max_epochs: int, on_epoch_end: EpochHook | None) -> list[EpochHook]:
        checks = [on_epoch_end] if on_epoch_end else []
        if self.trainer.verbose:
            patience = self.trainer.patience if self.validation_data is not None else None  # it needs validation
            checks.append(
                EpochLog(f"{self.model_cfg.name} seed {seed}", max_epochs, patience, self.model_cfg.loss.value)
            )
        return checks

    def fit(self, seed: int, on_epoch_end: EpochHook | None = None, epochs: int | None = None) -> SeedResult:
        """Fit one seed. With validation, early stopping on ``trainer.monitor``; without, ``epochs`` exactly."""
        max_epochs = epochs or self.trainer.max_epochs
        checks = self.checks(seed, max_epochs, on_epoch_end)
        fit = self.fit_loop if self.loop is not None else self.fit_keras
        history, model, seconds, saved = fit(seed, max_epochs, checks)
        fold_column_scale(model, self.train.scale)  # the saved model takes plain multi-hot rows
        if self.validation_data is None:
            summary = {"epochs_run": len(history["loss"]), "train_seconds": seconds}
        else:
            summary = {**summarize(history, self.trainer.monitor, seconds), **saved}
        return SeedResult(seed, history, summary, model)

    def fit_loop(self, seed: int, max_epochs: int, checks: list[EpochHook]):
        model = self.initial_model(seed)

        def on_step(epoch: int, loss: float) -> None:
            check_step(self.model_cfg, self.trainer, epoch, loss)

        fitted = self.loop.fit(model.get_weights(), seed, self.validation_data, max_epochs, on_step, checks)
        model.set_weights(fitted.weights)
        saved = None if self.validation_data is None else fitted.saved
        return fitted.history, model, fitted.seconds, saved

    def fit_keras(self, seed: int, max_epochs: int, checks: list[EpochHook]):
        trainer = self.trainer
        model = compile_model(self.initial_model(seed), self.model_cfg, trainer.steps_per_execution)
        batches = sparse_batches(self.train, trainer.batch_size, shuffle=True, seed=seed)
        callbacks: list[keras.callbacks.Callback] = [StopOnDivergence(self.model_cfg, trainer)]
        callbacks += [EpochEnd(check) for check in checks]
        if self.validation_data is not None:
            callbacks.insert(
                0,
                keras.callbacks.EarlyStopping(
                    monitor=trainer.monitor.value,
                    patience=trainer.patience,
                    restore_best_weights=trainer.restore_best_weights,
                ),
            )
        started = time.perf_counter()
        fitted = model.fit(
            batches,
            validation_data=self.validation_data,
            epochs=max_epochs,
            callbacks=callbacks,
            shuffle=False,
            verbose=0,
        )  # shuffling happens in sparse_batches
        seconds = time.perf_counter() - started
        history = {key: [float(v) for v in values] for key, values in fitted.history.items()}
        saved = None
        if self.validation_data is not None:  # the weights the model now holds: those that are saved
            scores = model.evaluate(self.validation_data, return_dict=True, verbose=0)
            saved = {f"saved_val_{key}": float(scores[key]) for key in ("accuracy", "bce", "loss")}
        return history, inference_model(model, self.model_cfg, self.train.width), seconds, saved


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
