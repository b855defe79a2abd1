"""A trained network's forward pass in NumPy, so scoring a review needs neither TensorFlow nor Keras.

The study's networks are Dense layers with elementwise activations (Dropout does nothing at inference), so a
prediction is a few matrix products: NumPy and SciPy's sparse product do them exactly (equal to Keras's
predictions within 1e-6, ``tests/serve/test_dense_stack.py``). Importing TensorFlow alone took 5.6 s and most
of predict's 815 MB; the measured figures are in docs/performance.md.

The weights are exported with Keras's public API (``layer.get_weights()``, ``layer.get_config()``) when the
final stage logs the text model, into a plain ``.npz`` of arrays (no pickle), and read back here without
Keras. A network with any other layer is refused at export, so the text model then keeps its Keras model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": expit,
}
PASSED_THROUGH = ("InputLayer", "Dropout")  # no arithmetic at inference


class NotADenseStack(ValueError):
    """The model has a layer the NumPy forward pass does not do."""


@dataclass(frozen=True)
class DenseStack:
    """Dense layers in order: each a kernel, a bias and an activation's name."""

    kernels: list[np.ndarray]
    biases: list[np.ndarray]
    activations: list[str]

    @property
    def width(self) -> int:
        """The number of input columns."""
        return self.kernels[0].shape[0]

    @property
    def input_shape(self) -> tuple[None, int]:  # as a Keras model says it (predict checks the columns)
        return None, self.width

    def __call__(self, x, training: bool = False) -> np.ndarray:
        """Probabilities for rows ``x`` (dense or SciPy sparse), shape ``(rows, 1)``, float32 like Keras's."""
        hidden = x
        for kernel, bias, activation in zip(self.kernels, self.biases, self.activations, strict=True):
            hidden = ACTIVATIONS[activation](np.asarray(hidden @ kernel) + bias)
        return np.asarray(hidden, dtype=np.float32)

    predict_on_batch = __call__  # as a Keras model is asked for NumPy probabilities

    @classmethod
    def from_keras(cls, model) -> DenseStack:
        """The Dense layers of a Keras model, through its public API; NotADenseStack for anything else."""
        kernels, biases, activations = [], [], []
        for layer in model.layers:
            kind = type(layer).__name__
            if kind in PASSED_THROUGH:
                continue
            config = layer.get_config()
            if kind != "Dense" or config.get("activation") not in ACTIVATIONS or not config.get("use_bias", True):
                raise NotADenseStack(f"layer {layer.name} ({kind}, {config.get('activation')}) is not a biased Dense")
            kernel, bias = layer.get_weights()
            kernels.append(kernel)
            biases.append(bias)
            activations.append(config["activation"])
        if not kernels:
            raise NotADenseStack(f"{model.name} has no Dense layer")
        return cls(kernels, biases, activations)

    def save(self, path: Path) -> None:
        arrays = {f"kernel_{i}": k for i, k in enumerate(self.kernels)} | {
            f"bias_{i}": b for i, b in enumerate(self.biases)
        }
        np.savez(path, activations=np.array(self.activations), **arrays)

    @classmethod
    def load(cls, path: Path) -> DenseStack:
        with np.load(path, allow_pickle=False) as saved:
            activations = [str(name) for name in saved["activations"]]
            layers = range(len(activations))
            return cls([saved[f"kernel_{i}"] for i in layers], [saved[f"bias_{i}"] for i in layers], activations)


def probabilities(model, rows: sp.csr_matrix) -> np.ndarray:
    """Positive-class probabilities of encoded reviews, from a :class:`DenseStack` (the sparse rows straight in)
    or a Keras model (densified in chunks by :func:`~imdb_sentiment.model.evaluate.predict_proba`, imported only
    then: with scikit-learn it adds 0.7 s and 68 MB to a predict that does not need it)."""
    if isinstance(model, DenseStack):
        return model(rows).reshape(-1)
    from imdb_sentiment.model.evaluate import predict_proba

    return predict_proba(model, rows)
