"""The allowed values of the config keys that take one of a fixed set (Hydra lists them on a wrong value)."""

from __future__ import annotations

from enum import Enum


class Activation(Enum):
    tanh = "tanh"
    relu = "relu"
    sigmoid = "sigmoid"
    elu = "elu"
    gelu = "gelu"
    selu = "selu"
    linear = "linear"


class Regularizer(Enum):
    none = "none"
    l1 = "l1"
    l2 = "l2"
    l1_l2 = "l1_l2"


class Optimizer(Enum):
    adam = "adam"
    adamw = "adamw"
    rmsprop = "rmsprop"
    sgd = "sgd"
    nadam = "nadam"
    adagrad = "adagrad"


class Loss(Enum):
    mse = "mse"
    binary_crossentropy = "binary_crossentropy"

    @property
    def short(self) -> str:
        """As metric names carry it (``val_loss_mse``)."""
        return {"mse": "mse", "binary_crossentropy": "bce"}[self.value]

    @property
    def words(self) -> str:
        """As tables and figures name it."""
        return {"mse": "MSE", "binary_crossentropy": "cross-entropy"}[self.value]


def loss_words(function: str) -> str:
    """A loss function's name as tables say it (``MSE``, ``cross-entropy``); an unknown one as it is."""
    return Loss(function).words if function in {loss.value for loss in Loss} else function


class FeatureDtype(Enum):
    """Only float32: Keras copies float64 input to float32, so anything wider only costs memory."""

    float32 = "float32"


class TrainOn(Enum):
    partial = "partial"
    full = "full"


class Monitor(Enum):
    """The per-epoch metric that picks a seed's best epoch (``trainer.monitor``); accuracy is maximised, loss
    minimised. Keras's EarlyStopping takes its ``.value``."""

    val_loss = "val_loss"
    val_accuracy = "val_accuracy"
    val_bce = "val_bce"  # the shared yardstick: binary cross-entropy, whatever the variant trains on

    @property
    def maximized(self) -> bool:
        return self is Monitor.val_accuracy


class SelectionMetric(Enum):
    """Summary metrics compare can rank variants by, each at each seed's best epoch (summaries.summarize);
    accuracy is maximised, the losses minimised. ``best_val_bce`` is the same function for every variant;
    ``best_val_loss`` is each variant's own training loss, so compare refuses it for variants that differ."""

    best_val_accuracy = "best_val_accuracy"
    best_val_bce = "best_val_bce"
    best_val_loss = "best_val_loss"

    @property
    def maximized(self) -> bool:
        return self is SelectionMetric.best_val_accuracy


class PredictOutput(Enum):
    """How predict prints its scores: a table to read, or one JSON document for programs (``--json``)."""

    table = "table"
    json = "json"
