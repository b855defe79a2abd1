"""Models build from every variant file; the fast training pieces do the same maths as Keras's own."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf

from imdb_sentiment.config import ModelConfig, Optimizer, Regularizer
from imdb_sentiment.models import (FusedAdam, FusedL2, FusedRMSprop, build_model, compile_model, inference_model,
                                   make_optimizer)
from imdb_sentiment.training import CsrRows, sparse_batches
from test_config import VARIANTS, compose_config
from imdb_sentiment.config import validate


def random_csr(rows: int, cols: int, density: float = 0.2, seed: int = 0) -> sp.csr_matrix:
    matrix = sp.random(rows, cols, density=density, format="csr", dtype=np.float32, random_state=seed)
    matrix.data[:] = 1
    return matrix


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_builds_sparse_and_dense_with_the_same_outputs(variant):
    cfg = validate(compose_config(f"model={variant}")).model
    sparse_model = compile_model(build_model(cfg, 50, sparse=True), cfg, 1)
    dense_model = inference_model(sparse_model, cfg, 50)
    assert len([layer for layer in dense_model.layers if isinstance(layer, keras.layers.Dense)]) == \
        cfg.hidden_layers + 1
    assert dense_model.layers[1].units == cfg.units
    x = random_csr(8, 50)
    batch, _ = next(iter(sparse_batches(CsrRows.from_csr(x, np.zeros(8)), 8, shuffle=False, seed=0)))
    np.testing.assert_allclose(sparse_model(batch, training=False).numpy(),
                               dense_model(x.toarray(), training=False).numpy(), rtol=1e-5, atol=1e-6)


def test_dense_model_is_plain_keras_and_takes_float32():
    cfg = ModelConfig(name="m", hidden_layers=2, units=4, regularizer=Regularizer.l2, dropout=0.5)
    model = build_model(cfg, 20, sparse=False)
    assert {type(layer).__module__.split(".")[0] for layer in model.layers} == {"keras"}
    assert model.inputs[0].dtype == "float32" and tuple(model.inputs[0].shape) == (None, 20)


def test_sparse_batches_cover_every_row_once_per_epoch_and_reshuffle():
    x = random_csr(37, 12, seed=3)
    y = np.arange(37, dtype=np.float32)
    dataset = sparse_batches(CsrRows.from_csr(x, y), batch_size=8, shuffle=True, seed=1)
    epochs = []
    for _ in range(2):
        seen_rows, seen_labels = [], []
        for batch, labels in dataset:
            seen_rows.append(tf.sparse.to_dense(batch).numpy())
            seen_labels.append(labels.numpy().ravel())
        labels = np.concatenate(seen_labels)
        rows = np.concatenate(seen_rows)
        assert sorted(labels.tolist()) == y.tolist()
        np.testing.assert_array_equal(rows, x.toarray()[labels.astype(int)])
        epochs.append(labels.tolist())
    assert epochs[0] != epochs[1]


def test_csr_rows_refuse_float64():
    with pytest.raises(TypeError, match="float32"):
        CsrRows.from_csr(random_csr(4, 4).astype(np.float64), np.zeros(4))


def applier(optimizer, variables):
    """``apply`` with the variables captured, as Keras's traced train step has them (not as arguments)."""
    def apply(gradients):
        optimizer.apply(gradients, variables)
    return apply


@pytest.mark.parametrize(("fused", "reference"), [(FusedAdam, keras.optimizers.Adam),
                                                  (FusedRMSprop, keras.optimizers.RMSprop)])
@pytest.mark.parametrize("in_graph", [False, True], ids=["eager", "tf.function"])
def test_fused_optimizers_follow_keras_update_rule(fused, reference, in_graph):
    rng = np.random.default_rng(0)
    shapes = [(30, 4), (4,)]  # two variables in one step: they share the step's scalars
    starts = [rng.normal(size=shape).astype(np.float32) for shape in shapes]
    steps = [[rng.normal(size=shape).astype(np.float32) for shape in shapes] for _ in range(5)]
    results = []
    for optimizer in (fused(learning_rate=0.01), reference(learning_rate=0.01)):
        variables = [keras.Variable(start) for start in starts]
        optimizer.build(variables)
        step = applier(optimizer, variables)
        step = tf.function(step) if in_graph else step  # training runs it traced, once per step
        for gradients in steps:
            step([tf.constant(gradient) for gradient in gradients])
        results.append([variable.numpy() for variable in variables])
    for ours, keras_own, start in zip(results[0], results[1], starts, strict=True):
        np.testing.assert_allclose(ours, keras_own, rtol=1e-5, atol=1e-6)
        assert not np.allclose(ours, start)


def test_fused_l2_gives_keras_l2_penalty_and_gradient():
    weights = tf.Variable(np.random.default_rng(1).normal(size=(300, 8)).astype(np.float32))
    values, gradients = [], []
    for penalty in (FusedL2(0.01), keras.regularizers.L2(0.01)):
        with tf.GradientTape() as tape:
            value = penalty(weights)
        values.append(float(value))
        gradients.append(tape.gradient(value, weights).numpy())
    assert values[0] == pytest.approx(values[1], rel=1e-5) and values[0] > 0
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=1e-5, atol=1e-7)


def test_only_the_training_graph_uses_the_fused_l2_saved_models_use_keras_classes():
    cfg = validate(compose_config("model=l2_3layer")).model
    training, portable = build_model(cfg, 50, sparse=True), build_model(cfg, 50, sparse=False)
    assert {type(layer.kernel_regularizer) for layer in training.layers if hasattr(layer, "kernel_regularizer")
            and layer.kernel_regularizer} == {FusedL2}
    assert {type(layer.kernel_regularizer) for layer in portable.layers if hasattr(layer, "kernel_regularizer")
            and layer.kernel_regularizer} == {keras.regularizers.L2}


def test_make_optimizer_uses_fused_kernels_and_the_configured_learning_rate():
    assert isinstance(make_optimizer(ModelConfig(name="m", optimizer=Optimizer.adam)), FusedAdam)
    sgd = make_optimizer(ModelConfig(name="m", optimizer=Optimizer.sgd, learning_rate=0.5))
    assert isinstance(sgd, keras.optimizers.SGD) and float(sgd.learning_rate) == pytest.approx(0.5)
    assert float(make_optimizer(ModelConfig(name="m", optimizer=Optimizer.rmsprop)).learning_rate) == \
        pytest.approx(keras.optimizers.RMSprop().learning_rate.numpy())
