"""The speed layer: every piece that makes sparse training faster than stock Keras, and nothing else.

``trainer.fast_path: false`` turns all of it off: the same CSR batches then train a stock ``keras.layers.Dense``
first layer, ``keras.regularizers.L2`` and ``keras.optimizers.Adam``/``RMSprop``, with a new model per seed,
to the same metrics within float round-off (``tests/model/test_models.py``). Each piece's measured gain is in
docs/performance.md ("The speed layer"); what each buys:

- :func:`csr_matmul` / :class:`SparseDense`: the first layer multiplies ``tf.SparseTensor`` batches with
  TensorFlow's CSR kernels, its gradient by an explicit CSR transpose, instead of Keras's
  ``embedding_lookup_sparse`` path for sparse input.
- :class:`FusedL2`: Keras's L2 penalty as one ``L2Loss`` kernel, whose gradient is one multiply (Keras's
  ``sum(square(x))`` is several passes over the first layer's weights).
- :class:`FusedAdam` / :class:`FusedRMSprop`: Keras's update rules applied by TensorFlow's fused
  ``ResourceApplyAdam`` / ``ResourceApplyRMSProp`` kernels, one pass over each variable.
- :class:`FusedOptimizer`: the update's scalars (beta powers, casts) built once per step, not per variable.
- :class:`SharedCompiledModel`: the seeds of a variant share one compiled model, reset before each seed to the exact
  state of a model newly built under that seed, so the training graphs are traced once per stage.

What it relies on. Only public extension points: Keras 3's custom-optimizer interface (``build``,
``update_step``, ``get_config``, ``add_variable_from_reference``; :class:`FusedOptimizer` wraps the public
``apply``), ``keras.layers.Dense.call``, ``keras.regularizers.L2``, and ``tf.raw_ops`` for the CSR and fused
kernels. Two behaviours of Keras's TensorFlow backend that no document promises, pinned in pyproject.toml
(tests/architecture/test_versions.py) and checked by the tests: a ``keras.Variable``'s ``value`` is a ``tf.Variable``
whose ``handle`` the raw ops take, and ``update_step`` receives those ``tf.Variable`` objects.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from imdb_sentiment.config.schema import Optimizer


def csr_matmul(x: tf.SparseTensor, kernel: tf.Tensor) -> tf.Tensor:
    """``x @ kernel`` for a sparse batch, with a gradient for the kernel only (the input is data)."""
    matrix = tf.raw_ops.SparseTensorToCSRSparseMatrix(indices=x.indices, values=x.values, dense_shape=x.dense_shape)
    matrix_dtype = x.values.dtype

    @tf.custom_gradient
    def forward(dense_kernel):
        def grad(upstream):  # x^T @ upstream; an explicit transpose is faster than adjoint_a here
            transposed = tf.raw_ops.SparseMatrixTranspose(input=matrix, type=matrix_dtype)
            return tf.raw_ops.SparseMatrixMatMul(a=transposed, b=upstream)

        return tf.raw_ops.SparseMatrixMatMul(a=matrix, b=dense_kernel), grad

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
    """Keras's L2 penalty, ``l2 * sum(x**2)``, as one fused ``L2Loss`` kernel (the training graph only)."""

    def __call__(self, x):
        return (2.0 * self.l2) * tf.nn.l2_loss(tf.convert_to_tensor(x))  # l2_loss(x) = sum(x**2) / 2


def _slot_key(variable):
    """One key for a model variable as ``build`` sees it (keras.Variable) and as ``update_step`` does."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).ref()


def cast_all(dtype, **scalars) -> dict:
    return {name: tf.cast(value, dtype) for name, value in scalars.items()}


class FusedOptimizer(keras.optimizers.Optimizer):
    """A fused optimizer's base: slots per variable, and the step's scalar inputs built once per dtype.

    Keras's optimizers build those scalars per variable (for Adam two powers and six casts each). A subclass
    names its fused ``tf.raw_ops`` kernel, its slots and the kernel's argument for each, and its scalars.
    """

    KERNEL = ""  # the fused tf.raw_ops kernel that applies the update
    SLOTS: dict[str, str] = {}  # slot variable name -> the kernel's argument for it
    _scalars: dict | None = None

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        slots = [[self.add_variable_from_reference(v, name) for v in var_list] for name in self.SLOTS]
        self.slots = {_slot_key(v): [kind[i] for kind in slots] for i, v in enumerate(var_list)}

    def apply(self, grads, trainable_variables=None):
        self._scalars = {}
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._scalars = None

    def step_scalars(self, dtype, learning_rate) -> dict:
        if self._scalars is None:  # called outside apply: nothing to share
            return self.make_step_scalars(dtype, learning_rate)
        if dtype not in self._scalars:
            self._scalars[dtype] = self.make_step_scalars(dtype, learning_rate)
        return self._scalars[dtype]

    def make_step_scalars(self, dtype, learning_rate) -> dict:
        raise NotImplementedError

    def update_step(self, gradient, variable, learning_rate):
        slots = zip(self.SLOTS.values(), self.slots[_slot_key(variable)], strict=True)
        getattr(tf.raw_ops, self.KERNEL)(
            var=variable.handle,
            grad=tf.convert_to_tensor(gradient, variable.dtype),
            **{argument: slot.value.handle for argument, slot in slots},
            **self.step_scalars(variable.dtype, learning_rate),
        )


@keras.saving.register_keras_serializable(package="imdb_sentiment")
class FusedAdam(FusedOptimizer):
    """Keras's Adam (same defaults, same update rule, no amsgrad) applied with the fused ApplyAdam kernel."""

    KERNEL, SLOTS = "ResourceApplyAdam", {"momentum": "m", "velocity": "v"}

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, name="fused_adam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def make_step_scalars(self, dtype, learning_rate) -> dict:
        step = tf.cast(self.iterations + 1, dtype)
        scalars = cast_all(dtype, lr=learning_rate, beta1=self.beta_1, beta2=self.beta_2, epsilon=self.epsilon)
        return {**scalars, "beta1_power": tf.pow(scalars["beta1"], step), "beta2_power": tf.pow(scalars["beta2"], step)}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="imdb_sentiment")
class FusedRMSprop(FusedOptimizer):
    """Keras's RMSprop (same defaults; uncentred, no momentum) applied with the fused ApplyRMSProp kernel."""

    KERNEL = "ResourceApplyRMSProp"
    SLOTS = {"velocity": "ms", "fused_momentum": "mom"}  # the kernel takes a momentum slot even at momentum 0

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, name="fused_rmsprop", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    def make_step_scalars(self, dtype, learning_rate) -> dict:
        return cast_all(dtype, lr=learning_rate, rho=self.rho, momentum=0.0, epsilon=self.epsilon)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


OPTIMIZERS = {Optimizer.adam: FusedAdam, Optimizer.rmsprop: FusedRMSprop}


class SharedCompiledModel:
    """One compiled model for all of a variant's seeds: Keras traces its graphs once, not once per seed.

    Before each seed it takes exactly the state a newly built model would have: weights and dropout RNG
    states from ``fresh`` (a model built under that seed), optimizer slots and step zeroed. So the metrics
    equal those of a new model per seed (tests/train/test_training.py).
    """

    def __init__(self):
        self.model: keras.Model | None = None
        self.optimizer_start: list[np.ndarray] = []

    def start(self, fresh: keras.Model, compile_model: Callable[[keras.Model], keras.Model]) -> keras.Model:
        if self.model is None:
            self.model = compile_model(fresh)
            self.model.optimizer.build(self.model.trainable_variables)
            self.optimizer_start = [variable.numpy() for variable in self.model.optimizer.variables]
            return self.model
        for target, source in zip(self.model.variables, fresh.variables, strict=True):  # incl. dropout RNG states
            target.assign(source)
        for variable, value in zip(self.model.optimizer.variables, self.optimizer_start, strict=True):
            variable.assign(value)
        return self.model
