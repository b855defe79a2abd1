"""The study's networks, built from config: the training graph, the portable copy, the optimizer.

Training feeds ``tf.SparseTensor`` batches to the model. With ``trainer.fast_path`` on (the default) its
first layer, L2 penalty and Adam/RMSprop come from :mod:`imdb_sentiment.model.fast_path`; off, they are stock
Keras classes on the same batches. What gets saved and served is a plain Keras model of standard layers with
a dense ``float32 (-1, num_words)`` input, built by :func:`inference_model` from the trained weights.
"""

from __future__ import annotations

import keras

from imdb_sentiment.config.schema import ModelConfig, Regularizer
from imdb_sentiment.model import fast_path as fast

INPUT_NAME = "review"
INPUT_EXAMPLE_ROWS = 2  # feature rows logged with a model as its input example


def _regularizer(cfg: ModelConfig, fused: bool) -> keras.regularizers.Regularizer | None:
    """The configured penalty: the fast path's fused L2 when ``fused``, otherwise Keras's own class."""
    if cfg.regularizer is Regularizer.none or cfg.regularization == 0:
        return None
    if cfg.regularizer is Regularizer.l1:
        return keras.regularizers.L1(cfg.regularization)
    if cfg.regularizer is Regularizer.l2:
        return (fast.FusedL2 if fused else keras.regularizers.L2)(cfg.regularization)
    return keras.regularizers.L1L2(l1=cfg.regularization, l2=cfg.regularization)


def build_model(cfg: ModelConfig, num_words: int, sparse: bool, fast_path: bool = True) -> keras.Model:
    """The variant's network; ``sparse=True`` gives the training graph (with the speed layer's pieces when
    ``fast_path``, stock Keras layers otherwise), ``False`` the portable one. ``model.hidden_layers: 0`` is a
    logistic regression, the configured penalty on its one weight vector."""
    fused = sparse and fast_path
    inputs = keras.Input(shape=(num_words,), sparse=sparse, name=INPUT_NAME)
    hidden = inputs
    for index in range(1, cfg.hidden_layers + 1):
        layer_class = fast.SparseDense if (fused and index == 1) else keras.layers.Dense
        hidden = layer_class(
            cfg.units,
            activation=cfg.activation.value,
            kernel_regularizer=_regularizer(cfg, fused),
            name=f"hidden_{index}",
        )(hidden)
        if cfg.dropout > 0:
            hidden = keras.layers.Dropout(cfg.dropout, name=f"dropout_{index}")(hidden)
    linear = cfg.hidden_layers == 0  # a logistic regression: the input straight to the output, penalised there
    output_class = fast.SparseDense if (fused and linear) else keras.layers.Dense
    outputs = output_class(
        1,
        activation=cfg.output_activation.value,
        kernel_regularizer=_regularizer(cfg, fused) if linear else None,
        name="output",
    )(hidden)
    return keras.Model(inputs, outputs, name=cfg.name)


def inference_model(trained: keras.Model, cfg: ModelConfig, num_words: int) -> keras.Model:
    """A plain-layer copy of a trained sparse model: loads anywhere Keras does, takes dense float32."""
    model = build_model(cfg, num_words, sparse=False)
    model.set_weights(trained.get_weights())
    return model


def make_optimizer(cfg: ModelConfig, fast_path: bool = True) -> keras.optimizers.Optimizer:
    """The configured optimizer with Keras's defaults, except the learning rate when one is set; Adam and
    RMSprop from the speed layer when ``fast_path``."""
    kwargs = {} if cfg.learning_rate is None else {"learning_rate": cfg.learning_rate}
    if fast_path and cfg.optimizer in fast.OPTIMIZERS:
        return fast.OPTIMIZERS[cfg.optimizer](**kwargs)
    return keras.optimizers.get({"class_name": cfg.optimizer.value, "config": kwargs})


def compile_model(
    model: keras.Model, cfg: ModelConfig, steps_per_execution: int, fast_path: bool = True
) -> keras.Model:
    """Adam or RMSprop on the variant's loss, with the yardstick every variant shares whatever its loss: accuracy
    and binary cross-entropy (``bce``), so variants trained on MSE and on cross-entropy compare on one scale."""
    model.compile(
        optimizer=make_optimizer(cfg, fast_path),
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
