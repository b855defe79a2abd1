"""The speed layer: the study's networks trained by a tuned PyTorch loop, to Keras's metrics.

``trainer.fast_path: true`` (the default) trains here every variant whose optimizer is in :data:`OPTIMIZERS`;
``false`` trains stock Keras layers and optimizers on TensorFlow, on the same rows, from the same initial
weights, to the same metrics within float round-off (``tests/model/test_seed_training.py``; dropout masks
come from another generator, so variants with dropout agree within seed noise, not bit for bit). Why PyTorch:
TensorFlow's per-op overhead and its 650 MB import set a floor above the issue's targets; the measured
pieces are in docs/performance.md ("The speed layer"). What each piece buys:

- :class:`MultiHotProduct`: the first layer's product with a multi-hot batch is a sum of kernel rows
  (``embedding_bag``), and its gradient a second sum over the batch's transpose (PyTorch's own
  ``index_add`` backward costs ~12x more).
- The L2 penalty's gradient (``2 l W``) is the optimizer's ``weight_decay``, applied inside its one fused
  update instead of autograd passes over the first layer's 640k weights; the penalty's value, for the
  reported loss, is one dot product a step.
- Dropout masks from uniform random numbers (``bernoulli`` costs ~4x more).
- Each epoch's batches and their transposes are cut from the CSR rows in its order before it starts (scipy).

Keras's semantics kept: Keras's initial weights (:func:`networks.initial_weights`, the same for both paths), Keras's
optimizer defaults and Adam's epsilon placement, loss = the batch's loss + the penalties, accuracy with
``p > 0.5``, the cross-entropy metric from logits, EarlyStopping's rule and its restore at the end.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
import torch._dynamo  # noqa: F401  before TensorFlow can load: see the note below
import torch.nn.functional as F

from imdb_sentiment.config.schema import Activation, Loss, ModelConfig, Optimizer, Regularizer, TrainerConfig
from imdb_sentiment.model.batches import epoch_orders

# PyTorch's optimizers import torch._dynamo at their first step. With PyPI's CUDA build of torch 2.13 (the one
# pip installs on Python 3.12 and 3.13), importing it after TensorFlow 2.21 is loaded segfaults (its
# cuda.bindings), while the other order works: so this module, which every process that trains here imports
# before Keras or TensorFlow (commands/*.py, tests/conftest.py), imports it first. Seen in CI on 3.12.

KERAS_DEFAULTS = {  # keras.optimizers.<name>() defaults; learning_rate overridable by model.learning_rate
    Optimizer.adam: dict(lr=0.001, betas=(0.9, 0.999), eps=1e-7),
    Optimizer.rmsprop: dict(lr=0.001, alpha=0.9, eps=1e-7),
    Optimizer.sgd: dict(lr=0.01),
}


class KerasRMSprop(torch.optim.Optimizer):
    """Keras's RMSprop (uncentred, no momentum): ``w -= lr * g / sqrt(v + eps)``. PyTorch's adds epsilon
    outside the square root, which at Keras's 1e-7 is a different update wherever ``v`` is small."""

    def __init__(self, params, lr: float, alpha: float, eps: float, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                gradient = parameter.grad
                if group["weight_decay"]:
                    gradient = gradient.add(parameter, alpha=group["weight_decay"])
                state = self.state[parameter]
                if not state:
                    state["velocity"] = torch.zeros_like(parameter)
                velocity = state["velocity"]
                velocity.mul_(group["alpha"]).addcmul_(gradient, gradient, value=1 - group["alpha"])
                parameter.addcdiv_(gradient, velocity.add(group["eps"]).sqrt_(), value=-group["lr"])


# PyTorch's fused CPU kernels: one pass over each parameter per step (the default for-each update makes ~10)
FUSED = {Optimizer.adam: {"fused": True}, Optimizer.sgd: {"fused": True}}
OPTIMIZERS = {Optimizer.adam: torch.optim.Adam, Optimizer.rmsprop: KerasRMSprop, Optimizer.sgd: torch.optim.SGD}
ACTIVATIONS: dict[Activation, Callable[[torch.Tensor], torch.Tensor]] = {
    Activation.tanh: torch.tanh,
    Activation.relu: torch.relu,
    Activation.sigmoid: torch.sigmoid,
    Activation.elu: F.elu,
    Activation.gelu: F.gelu,  # Keras's default is the exact (erf) form, as here
    Activation.selu: F.selu,
    Activation.linear: lambda x: x,
}


def supports(cfg: ModelConfig) -> bool:
    """Whether this loop trains ``cfg`` (its optimizer's Keras rule has an exact PyTorch counterpart here)."""
    return cfg.optimizer in OPTIMIZERS and cfg.output_activation is Activation.sigmoid


def keras_backend(cfg: ModelConfig, trainer: TrainerConfig) -> str:
    """The Keras backend for a process that trains ``cfg``: PyTorch when this loop trains it (Keras then only
    builds and saves the model, and TensorFlow's ~650 MB never loads), TensorFlow for the stock path."""
    return "torch" if trainer.fast_path and supports(cfg) else "tensorflow"


@dataclass(frozen=True)
class Batch:
    """A multi-hot batch as ``embedding_bag`` takes it, with its transpose for the gradient; with a column
    scale (the naive-Bayes ratios), each entry weighted by its column's value."""

    columns: torch.Tensor  # each row's column ids, row after row
    offsets: torch.Tensor  # where each row starts in ``columns``
    rows_by_column: torch.Tensor  # the transpose: each column's row ids, column after column
    column_offsets: torch.Tensor  # where each of the ``width`` columns starts in ``rows_by_column``
    labels: torch.Tensor  # (rows, 1) float32
    weights: torch.Tensor | None = None  # each entry of ``columns``: its column's scale (None: all 1)
    scale: torch.Tensor | None = None  # (width, 1): the column scale, for the gradient

    @classmethod
    def cut(cls, x: sp.csr_matrix, y: np.ndarray, scale: torch.Tensor | None = None) -> Batch:
        by_column = x.tocsc()
        index = np.int32 if x.nnz < np.iinfo(np.int32).max else np.int64  # as scipy keeps them: no copy

        def tensor(values: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(values.astype(index, copy=False))

        columns = tensor(x.indices)
        return cls(
            columns,
            tensor(x.indptr[:-1]),
            tensor(by_column.indices),
            tensor(by_column.indptr[:-1]),
            torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32).reshape(-1, 1)),
            None if scale is None else scale.reshape(-1)[columns],
            scale,
        )


def column_scale(scale: np.ndarray | None) -> torch.Tensor | None:
    return None if scale is None else torch.from_numpy(np.asarray(scale, dtype=np.float32)).reshape(-1, 1)


def batches(
    x: sp.csr_matrix, y: np.ndarray, size: int, order: np.ndarray | None = None, scale: torch.Tensor | None = None
) -> list[Batch]:
    """The rows in ``order`` (all of them, as they are, by default) cut into batches of ``size``; each batch's
    rows gathered at once (cheaper than permuting the whole matrix and slicing it). ``scale``: see :class:`Batch`."""
    if order is None:
        return [
            Batch.cut(x[start : start + size], y[start : start + size], scale) for start in range(0, x.shape[0], size)
        ]
    steps = (order[start : start + size] for start in range(0, len(order), size))
    return [Batch.cut(x[ids], y[ids], scale) for ids in steps]


class MultiHotProduct(torch.autograd.Function):
    """``batch @ kernel`` for a multi-hot batch: a sum of kernel rows per review; the kernel's gradient is the
    same kind of sum over the batch's transpose (a dense ``width x units`` tensor, zero where no review
    of the batch has the word)."""

    @staticmethod
    def forward(ctx, kernel: torch.Tensor, batch: Batch) -> torch.Tensor:
        ctx.batch = batch
        return F.embedding_bag(batch.columns, kernel, batch.offsets, mode="sum", per_sample_weights=batch.weights)

    @staticmethod
    def backward(ctx, upstream: torch.Tensor):
        batch = ctx.batch
        gradient = F.embedding_bag(batch.rows_by_column, upstream, batch.column_offsets, mode="sum")
        return gradient if batch.scale is None else gradient.mul_(batch.scale), None


class Network:
    """The variant's Dense stack on PyTorch tensors, holding Keras's weight list (kernel, bias per layer)."""

    def __init__(self, cfg: ModelConfig, weights: list[np.ndarray], generator: torch.Generator):
        self.cfg, self.generator = cfg, generator
        self.parameters = [torch.tensor(w, dtype=torch.float32, requires_grad=True) for w in weights]
        self.kernels, self.biases = self.parameters[0::2], self.parameters[1::2]
        self.activation = ACTIVATIONS[cfg.activation]
        penalised = self.kernels[: cfg.hidden_layers] if cfg.hidden_layers else self.kernels
        self.penalised = penalised if cfg.regularizer is not Regularizer.none and cfg.regularization else []

    def logits(self, batch: Batch, training: bool) -> torch.Tensor:
        hidden = MultiHotProduct.apply(self.kernels[0], batch) + self.biases[0]
        for kernel, bias in zip(self.kernels[1:], self.biases[1:], strict=True):
            hidden = self.dropout(self.activation(hidden), training)
            hidden = torch.addmm(bias, hidden, kernel)
        return hidden

    def dropout(self, hidden: torch.Tensor, training: bool) -> torch.Tensor:
        rate = self.cfg.dropout
        if not training or rate == 0:
            return hidden
        keep = torch.rand(hidden.shape, generator=self.generator) >= rate  # as Keras: keep where u >= rate
        return hidden * keep.to(hidden.dtype).mul_(1.0 / (1.0 - rate))

    def penalty(self) -> tuple[torch.Tensor | None, float]:
        """Keras's regularization losses, l1 * sum|W| and l2 * sum(W**2) over the penalised kernels: the part that
        needs autograd (L1's; None without it) and the whole value, for the reported loss. The L2 part needs no
        gradient here (the optimizer's weight decay applies it), so it is one dot product per kernel."""
        l1 = self.cfg.regularization if self.cfg.regularizer in (Regularizer.l1, Regularizer.l1_l2) else 0.0
        l2 = self.cfg.regularization if self.cfg.regularizer in (Regularizer.l2, Regularizer.l1_l2) else 0.0
        with_gradient, value = None, 0.0
        for kernel in self.penalised:
            if l1:
                term = l1 * kernel.abs().sum()
                with_gradient = term if with_gradient is None else with_gradient + term
                value += float(term.detach())
            if l2:
                flat = kernel.detach().reshape(-1)
                value += l2 * float(torch.dot(flat, flat))
        return with_gradient, value

    def l2_decay(self) -> float:
        """The L2 penalty's gradient factor, handed to the optimizer as ``weight_decay``."""
        if self.cfg.regularizer in (Regularizer.l2, Regularizer.l1_l2):
            return 2.0 * self.cfg.regularization
        return 0.0

    def weights(self) -> list[np.ndarray]:
        return [p.detach().numpy().copy() for p in self.parameters]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        with torch.no_grad():
            for parameter, value in zip(self.parameters, weights, strict=True):
                parameter.copy_(torch.from_numpy(value))


def make_optimizer(network: Network, cfg: ModelConfig) -> torch.optim.Optimizer:
    """Keras's optimizer as PyTorch's, with the L2 penalty's gradient as weight decay on the penalised kernels."""
    settings = dict(KERAS_DEFAULTS[cfg.optimizer])
    if cfg.learning_rate is not None:
        settings["lr"] = cfg.learning_rate
    decayed = {id(k) for k in network.penalised} if network.l2_decay() else set()
    groups = [
        {"params": [p for p in network.parameters if id(p) in decayed], "weight_decay": network.l2_decay()},
        {"params": [p for p in network.parameters if id(p) not in decayed], "weight_decay": 0.0},
    ]
    return OPTIMIZERS[cfg.optimizer]([g for g in groups if g["params"]], **settings, **FUSED.get(cfg.optimizer, {}))


def keras_adam_epsilon(optimizer: torch.optim.Optimizer, epsilon: float) -> None:
    """Keras adds epsilon to sqrt(v) before the bias correction, PyTorch after: the same update with PyTorch's
    epsilon set to Keras's / sqrt(1 - beta_2 ** step) each step."""
    for group in optimizer.param_groups:
        state = optimizer.state.get(group["params"][0], {})
        step = float(state["step"]) + 1 if "step" in state else 1.0
        group["eps"] = epsilon / math.sqrt(1.0 - group["betas"][1] ** step)


class Sums:
    """An epoch's metrics as Keras accumulates them: means over samples, weighted by batch size. Accuracy and
    cross-entropy are computed once, over the epoch's logits, not per step (fewer small ops a step)."""

    def __init__(self):
        self.count, self.loss = 0, 0.0
        self.logits: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []

    def add(self, loss: float, logits: torch.Tensor, labels: torch.Tensor) -> None:
        rows = int(labels.shape[0])
        self.count += rows
        self.loss += loss * rows
        self.logits.append(logits.detach())
        self.labels.append(labels)

    def means(self, prefix: str = "") -> dict[str, float]:
        n = max(self.count, 1)
        logits, labels = torch.cat(self.logits), torch.cat(self.labels)
        correct = float(((torch.sigmoid(logits) > 0.5).to(labels.dtype) == labels).sum())  # Keras: p > 0.5
        bce = float(F.binary_cross_entropy_with_logits(logits, labels, reduction="sum"))
        return {f"{prefix}loss": self.loss / n, f"{prefix}accuracy": correct / n, f"{prefix}bce": bce / n}


def data_loss(cfg: ModelConfig, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if cfg.loss is Loss.mse:
        return torch.mean((torch.sigmoid(logits) - labels) ** 2)
    return F.binary_cross_entropy_with_logits(logits, labels)  # Keras's TF backend also takes the logits


StepCheck = Callable[[int, float], None]  # (epoch, the step's loss): raises to stop
EpochCheck = Callable[[int, dict[str, float]], None]  # (epoch from 1, the epoch's metrics)


@dataclass
class Fit:
    history: dict[str, list[float]]
    weights: list[np.ndarray]  # what the model ends with (the best epoch's when restored)
    seconds: float
    saved: dict[str, float]  # validation metrics of those weights (saved_val_*), empty without validation


class Loop:
    """Fits one seed of a variant: ``weights`` (Keras's initial weights under the seed) trained on CSR rows."""

    def __init__(
        self, cfg: ModelConfig, trainer: TrainerConfig, x: sp.csr_matrix, y: np.ndarray, scale: np.ndarray | None
    ):
        self.cfg, self.trainer, self.x, self.y = cfg, trainer, x, np.asarray(y, dtype=np.float32).reshape(-1)
        self.scale = column_scale(scale)
        if trainer.deterministic:
            torch.use_deterministic_algorithms(True)

    def fit(
        self,
        weights: list[np.ndarray],
        seed: int,
        validation: list[Batch] | None,
        epochs: int,
        on_step: StepCheck,
        on_epoch: list[EpochCheck],
    ) -> Fit:
        generator = torch.Generator().manual_seed(seed)
        orders = epoch_orders(self.x.shape[0], seed)
        network = Network(self.cfg, weights, generator)
        optimizer = make_optimizer(network, self.cfg)
        stopper = EarlyStop(self.trainer) if validation is not None else None
        history: dict[str, list[float]] = {}
        started = time.perf_counter()
        for epoch in range(1, epochs + 1):
            epoch_batches = batches(self.x, self.y, self.trainer.batch_size, next(orders), self.scale)
            sums = self.train_epoch(network, optimizer, epoch_batches, epoch, on_step)
            logs = sums.means()
            if validation is not None:
                logs.update(evaluate(network, validation).means("val_"))
            for key, value in logs.items():
                history.setdefault(key, []).append(value)
            for check in on_epoch:
                check(epoch, logs)
            if stopper is not None and stopper.stop(epoch, logs, network):
                break
        if stopper is not None and stopper.best_weights is not None and self.trainer.restore_best_weights:
            network.set_weights(stopper.best_weights)
        seconds = time.perf_counter() - started
        saved = {} if validation is None else evaluate(network, validation).means("saved_val_")
        history = {key: history[key] for key in sorted(history)}  # Keras's order: accuracy, bce, loss, val_...
        return Fit(history, network.weights(), seconds, saved)

    def train_epoch(self, network, optimizer, epoch_batches: list[Batch], epoch: int, on_step: StepCheck) -> Sums:
        sums, adam = Sums(), self.cfg.optimizer is Optimizer.adam
        for batch in epoch_batches:
            logits = network.logits(batch, training=True)
            with_gradient, penalty = network.penalty()
            loss = data_loss(self.cfg, logits, batch.labels)
            optimizer.zero_grad(set_to_none=True)
            (loss if with_gradient is None else loss + with_gradient).backward()
            if adam:
                keras_adam_epsilon(optimizer, KERAS_DEFAULTS[Optimizer.adam]["eps"])
            optimizer.step()
            value = float(loss.detach()) + penalty
            on_step(epoch, value)
            sums.add(value, logits, batch.labels)
        return sums


@torch.no_grad()
def evaluate(network: Network, validation: list[Batch]) -> Sums:
    """Metrics of the weights the network holds, on batches cut once (Keras's ``evaluate``)."""
    sums, (_, penalty) = Sums(), network.penalty()
    for batch in validation:
        logits = network.logits(batch, training=False)
        sums.add(float(data_loss(network.cfg, logits, batch.labels)) + penalty, logits, batch.labels)
    return sums


class EarlyStop:
    """Keras's EarlyStopping (min_delta 0, no baseline): the first best epoch by the monitor, patience counted
    the way Keras counts it, the best epoch's weights kept to restore at the end."""

    def __init__(self, trainer: TrainerConfig):
        self.monitor, self.patience = trainer.monitor, trainer.patience
        self.best = -math.inf if trainer.monitor.maximized else math.inf
        self.best_weights: list[np.ndarray] | None = None
        self.wait = 0

    def better(self, value: float) -> bool:
        return value > self.best if self.monitor.maximized else value < self.best

    def stop(self, epoch: int, logs: dict[str, float], network: Network) -> bool:
        value = logs[self.monitor.value]
        if self.best_weights is None:
            self.best_weights = network.weights()
        self.wait += 1
        if self.better(value):
            self.best, self.best_weights, self.wait = value, network.weights(), 0
            return False
        return self.wait >= self.patience and epoch > 1
