"""The study's networks, built from config, plus the two pieces that make sparse training fast.

Training feeds ``tf.SparseTensor`` batches to a model whose first layer is :class:`SparseDense`: the same
maths as ``Dense`` but computed with TensorFlow's CSR kernels (about 4x faster here than Keras's
``embedding_lookup_sparse`` path). Adam and RMSprop apply their updates with TensorFlow's fused kernels,
one pass over the 640k first-layer weights instead of several. What gets saved and served is a plain
Keras model of standard layers with a dense ``float32 (-1, num_words)`` input, built by
:func:`inference_model` from the trained weights.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from tensorflow.python.ops.linalg.sparse import sparse_csr_matrix_ops as csr_ops

from imdb_sentiment.config import ModelConfig, Optimizer, Regularizer

INPUT_NAME = "review"


def csr_matmul(x: tf.SparseTensor, kernel: tf.Tensor) -> tf.Tensor:
    """``x @ kernel`` for a sparse batch, with a gradient for the kernel only (the input is data)."""
    matrix = csr_ops.sparse_tensor_to_csr_sparse_matrix(x.indices, x.values, x.dense_shape)
    matrix_dtype = x.values.dtype

    @tf.custom_gradient
    def forward(dense_kernel):
        def grad(upstream):  # x^T @ upstream; an explicit transpose is ~2x faster than adjoint_a here
            transposed = csr_ops.sparse_matrix_transpose(matrix, type=matrix_dtype)
            return csr_ops.sparse_matrix_mat_mul(transposed, upstream)

        return csr_ops.sparse_matrix_mat_mul(matrix, dense_kernel), grad

    return forward(tf.convert_to_tensor(kernel))


@keras.saving.register_keras_serializable(package="imdb_sentiment")
class SparseDense(keras.layers.Dense):
    """A Dense layer that multiplies sparse batches with CSR kernels; dense input works as usual."""

    def call(self, inputs, training=None):
        if not isinstance(inputs, tf.SparseTensor):
            return super().call(inputs, training=training)
        outputs = csr_matmul(inputs, self.kernel)
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs) if self.activation is not None else outputs


@keras.saving.register_keras_serializable(package="imdb_sentiment")
class FusedL2(keras.regularizers.L2):
    """Keras's L2 penalty, ``l2 * sum(x**2)``, as one fused ``L2Loss`` kernel.

    Its gradient is one multiply, where ``sum(square(x))`` costs a squared copy, a broadcast and two
    multiplies over the 640k first-layer weights every step: 0.05 s of a 0.28 s ``l2_3layer`` epoch.
    """

    def __call__(self, x):
        return (2.0 * self.l2) * tf.nn.l2_loss(tf.convert_to_tensor(x))  # l2_loss(x) = sum(x**2) / 2


def _regularizer(cfg: ModelConfig, training: bool = False) -> keras.regularizers.Regularizer | None:
    """The configured penalty; the training graph gets the fused L2, saved models Keras's own class."""
    if cfg.regularizer is Regularizer.none or cfg.regularization == 0:
        return None
    if cfg.regularizer is Regularizer.l1:
        return keras.regularizers.L1(cfg.regularization)
    if cfg.regularizer is Regularizer.l2:
        return (FusedL2 if training else keras.regularizers.L2)(cfg.regularization)
    return keras.regularizers.L1L2(l1=cfg.regularization, l2=cfg.regularization)


def build_model(cfg: ModelConfig, num_words: int, sparse: bool) -> keras.Model:
    """The variant's network; ``sparse=True`` gives the training graph, ``False`` the portable one."""
    inputs = keras.Input(shape=(num_words,), sparse=sparse, name=INPUT_NAME)
    hidden = inputs
    for index in range(1, cfg.hidden_layers + 1):
        layer_class = SparseDense if (sparse and index == 1) else keras.layers.Dense
        hidden = layer_class(cfg.units, activation=cfg.activation.value,
                             kernel_regularizer=_regularizer(cfg, training=sparse), name=f"hidden_{index}")(hidden)
        if cfg.dropout > 0:
            hidden = keras.layers.Dropout(cfg.dropout, name=f"dropout_{index}")(hidden)
    outputs = keras.layers.Dense(1, activation=cfg.output_activation.value, name="output")(hidden)
    return keras.Model(inputs, outputs, name=cfg.name)


def inference_model(trained: keras.Model, cfg: ModelConfig, num_words: int) -> keras.Model:
    """A plain-layer copy of a trained sparse model: loads anywhere Keras does, takes dense float32."""
    model = build_model(cfg, num_words, sparse=False)
    model.set_weights(trained.get_weights())
    return model


class StepScalars:
    """Builds an update's scalar inputs once per training step (and dtype), shared by every variable.

    Keras's optimizers build them per variable: for Adam two powers and six casts, ~70 of the ~300 ops of an
    ``l2_3layer`` step, each costing ~10 us of executor time on this CPU.
    """

    _scalars: dict | None = None

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        self._scalars = {}
        try:
            super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self._scalars = None

    def step_scalars(self, dtype, learning_rate) -> dict:
        if self._scalars is None:  # called outside a step: nothing to share
            return self.make_step_scalars(dtype, learning_rate)
        if dtype not in self._scalars:
            self._scalars[dtype] = self.make_step_scalars(dtype, learning_rate)
        return self._scalars[dtype]


class FusedAdam(StepScalars, keras.optimizers.Adam):
    """Keras's Adam (same defaults, same update rule) applied with TensorFlow's fused ApplyAdam kernel."""

    def make_step_scalars(self, dtype, learning_rate) -> dict:
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        return {"beta1_power": tf.pow(beta_1, step), "beta2_power": tf.pow(beta_2, step),
                "lr": tf.cast(learning_rate, dtype), "beta1": beta_1, "beta2": beta_2,
                "epsilon": tf.cast(self.epsilon, dtype)}

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(var=variable.handle, m=self._momentums[index].handle,
                                     v=self._velocities[index].handle, grad=tf.convert_to_tensor(gradient, dtype),
                                     **self.step_scalars(dtype, learning_rate))


class FusedRMSprop(StepScalars, keras.optimizers.RMSprop):
    """Keras's RMSprop (uncentred, no momentum) applied with TensorFlow's fused ApplyRMSProp kernel."""

    def build(self, var_list):
        super().build(var_list)
        if not self.centered and not self.momentum:
            self._fused_moments = [self.add_variable_from_reference(v, "fused_momentum") for v in var_list]

    def make_step_scalars(self, dtype, learning_rate) -> dict:
        return {"lr": tf.cast(learning_rate, dtype), "rho": tf.cast(self.rho, dtype),
                "momentum": tf.constant(0.0, dtype), "epsilon": tf.cast(self.epsilon, dtype)}

    def update_step(self, gradient, variable, learning_rate):
        if self.centered or self.momentum:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyRMSProp(var=variable.handle, ms=self._velocities[index].handle,
                                        mom=self._fused_moments[index].handle,
                                        grad=tf.convert_to_tensor(gradient, dtype),
                                        **self.step_scalars(dtype, learning_rate))


_FUSED = {Optimizer.adam: FusedAdam, Optimizer.rmsprop: FusedRMSprop}


def make_optimizer(cfg: ModelConfig) -> keras.optimizers.Optimizer:
    """The configured optimizer with Keras's defaults, except the learning rate when one is set."""
    kwargs = {} if cfg.learning_rate is None else {"learning_rate": cfg.learning_rate}
    if cfg.optimizer in _FUSED:
        return _FUSED[cfg.optimizer](**kwargs)
    return keras.optimizers.get({"class_name": cfg.optimizer.value, "config": kwargs})


def compile_model(model: keras.Model, cfg: ModelConfig, steps_per_execution: int) -> keras.Model:
    model.compile(optimizer=make_optimizer(cfg), loss=cfg.loss.value, metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)
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

    table = rich.table.Table("Layer (type)", "Output Shape", rich.table.Column("Param #", justify="right"),
                             show_lines=True)
    for layer in model.layers:
        table.add_row(f"{layer.name} ({type(layer).__name__})", str(tuple(layer.output.shape)),
                      f"{layer.count_params():,}")
    trainable = sum(math.prod(weight.shape) for weight in model.trainable_weights)
    console = rich.console.Console(file=io.StringIO(), width=1000, color_system=None, force_terminal=False,
                                   highlight=False, markup=False, emoji=False)
    console.print(f'Model: "{model.name}"')
    console.print(table)
    console.print(f" Total params: {model.count_params():,}\n Trainable params: {trainable:,}\n"
                  f" Non-trainable params: {model.count_params() - trainable:,}")
    return console.file.getvalue()
