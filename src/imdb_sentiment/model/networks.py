"""The study's networks, built from config: the training graph, the portable copy, the optimizer.

The speed layer (:mod:`imdb_sentiment.model.fast_path`) trains these networks' weights in PyTorch, starting
from and ending in the Keras model built here; the stock path feeds ``tf.SparseTensor`` batches to the sparse-input
graph. What gets saved and served is a plain Keras model of standard layers with a dense
``float32 (-1, num_words)`` input, built by :func:`inference_model` from the trained weights.
"""

from __future__ import annotations

import keras
import numpy as np

from imdb_sentiment.config.schema import ModelConfig, Regularizer

INPUT_NAME = "review"
INPUT_EXAMPLE_ROWS = 2  # feature rows logged with a model as its input example


def _regularizer(cfg: ModelConfig) -> keras.regularizers.Regularizer | None:
    if cfg.regularizer is Regularizer.none or cfg.regularization == 0:
        return None
    if cfg.regularizer is Regularizer.l1:
        return keras.regularizers.L1(cfg.regularization)
    if cfg.regularizer is Regularizer.l2:
        return keras.regularizers.L2(cfg.regularization)
    return keras.regularizers.L1L2(l1=cfg.regularization, l2=cfg.regularization)


def build_model(cfg: ModelConfig, num_words: int, sparse: bool) -> keras.Model:
    """The variant's network; ``sparse=True`` gives the stock path's training graph, ``False`` the portable
    one. ``model.hidden_layers: 0`` is a logistic regression, the configured penalty on its one weight vector."""
    inputs = keras.Input(shape=(num_words,), sparse=sparse, name=INPUT_NAME)
    hidden = inputs
    for index in range(1, cfg.hidden_layers + 1):
        hidden = keras.layers.Dense(
            cfg.units, activation=cfg.activation.value, kernel_regularizer=_regularizer(cfg), name=f"hidden_{index}"
        )(hidden)
        if cfg.dropout > 0:
            hidden = keras.layers.Dropout(cfg.dropout, name=f"dropout_{index}")(hidden)
    linear = cfg.hidden_layers == 0  # a logistic regression: the input straight to the output, penalised there
    outputs = keras.layers.Dense(
        1,
        activation=cfg.output_activation.value,
        kernel_regularizer=_regularizer(cfg) if linear else None,
        name="output",
    )(hidden)
    return keras.Model(inputs, outputs, name=cfg.name)


def initial_weights(model: keras.Model, seed: int) -> list[np.ndarray]:
    """The weights a seed starts from, for ``model``'s layers: Keras's defaults (Glorot-uniform kernels, zero
    biases) drawn from NumPy's generator under ``seed``, so both training paths start alike on any backend."""
    rng = np.random.default_rng(seed)
    weights = []
    for kernel, bias in zip(model.get_weights()[0::2], model.get_weights()[1::2], strict=True):
        limit = np.sqrt(6.0 / sum(kernel.shape))  # keras.initializers.GlorotUniform
        weights += [rng.uniform(-limit, limit, size=kernel.shape).astype(np.float32), np.zeros_like(bias)]
    return weights


def inference_model(trained: keras.Model, cfg: ModelConfig, num_words: int) -> keras.Model:
    """A plain-layer copy of a trained sparse model: loads anywhere Keras does, takes dense float32."""
    model = build_model(cfg, num_words, sparse=False)
    model.set_weights(trained.get_weights())
    return model


def fold_column_scale(model: keras.Model, scale: np.ndarray | None) -> keras.Model:
    """A network trained on rows whose column ``j`` was multiplied by ``scale[j]`` (the naive-Bayes ratios),
    made to take the plain multi-hot rows: ``(x * scale) @ K == x @ (scale[:, None] * K)`` for its first
    kernel ``K``, so predict and the served model need no separate transform. In place; returns ``model``."""
    if scale is not None:
        weights = model.get_weights()
        weights[0] = weights[0] * np.asarray(scale, dtype=np.float32)[:, None]
        model.set_weights(weights)
    return model


def make_optimizer(cfg: ModelConfig) -> keras.optimizers.Optimizer:
    """The configured optimizer with Keras's defaults, except the learning rate when one is set."""
    kwargs = {} if cfg.learning_rate is None else {"learning_rate": cfg.learning_rate}
    return keras.optimizers.get({"class_name": cfg.optimizer.value, "config": kwargs})


def compile_model(model: keras.Model, cfg: ModelConfig, steps_per_execution: int) -> keras.Model:
    """Adam or RMSprop on the variant's loss, with the yardstick every variant shares whatever its loss: accuracy
    and binary cross-entropy (``bce``), so variants trained on MSE and on cross-entropy compare on one scale."""
    model.compile(
        optimizer=make_optimizer(cfg),
        loss=cfg.loss.value,
        metrics=["accuracy", keras.metrics.BinaryCrossentropy(name="bce")],
        steps_per_execution=steps_per_execution,
    )
    return model


def model_summary(model: keras.Model) -> str:
    """Keras's summary table (layer, output shape, parameter count, totals), the same at any terminal width.

    ``model.summary`` renders with a rich console sized by the terminal (or COLUMNS, or 80 columns), with no
    way to pass a width, so a stage run from a narrow terminal saved a table cut before "Param #". Here the
    console is ours: wide enough for any table, which takes its columns' natural width and never wraps.
    """
    import io
    import math

    import rich.console
    import rich.table

    table = rich.table.Table(
        "Layer (type)", "Output Shape", rich.table.Column("Param #", justify="right"), show_lines=True
    )
    for layer in model.layers:
        table.add_row(
            f"{layer.name} ({type(layer).__name__})", str(tuple(layer.output.shape)), f"{layer.count_params():,}"
        )
    trainable = sum(math.prod(weight.shape) for weight in model.trainable_weights)
    console = rich.console.Console(
        file=io.StringIO(),
        width=1000,
        color_system=None,
        force_terminal=False,
        highlight=False,
        markup=False,
        emoji=False,
    )
    console.print(f'Model: "{model.name}"')
    console.print(table)
    console.print(
        f" Total params: {model.count_params():,}\n Trainable params: {trainable:,}\n"
        f" Non-trainable params: {model.count_params() - trainable:,}"
    )
    return console.file.getvalue()
