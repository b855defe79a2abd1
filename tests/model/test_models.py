"""Models build from every variant file; the speed layer's pieces do the same maths as Keras's own, and
``trainer.fast_path`` really switches them for stock Keras classes."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf
from helpers.config import VARIANTS, compose_config, from_yaml

from imdb_sentiment.config.schema import Activation, Loss, Optimizer, Regularizer, validate
from imdb_sentiment.model import networks as models
from imdb_sentiment.model.batches import CsrRows, sparse_batches
from imdb_sentiment.model.fast_path import FusedAdam, FusedL2, FusedRMSprop, SparseDense
from imdb_sentiment.model.networks import build_model, compile_model, inference_model, make_optimizer
from imdb_sentiment.model.training import SeedTrainer


def random_csr(rows: int, cols: int, density: float = 0.2, seed: int = 0) -> sp.csr_matrix:
    matrix = sp.random(rows, cols, density=density, format="csr", dtype=np.float32, random_state=seed)
    matrix.data[:] = 1
    return matrix


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_builds_sparse_and_dense_with_the_same_outputs(variant):
    cfg = validate(compose_config(f"model={variant}")).model
    sparse_model = compile_model(build_model(cfg, 50, sparse=True), cfg, 1)
    dense_model = inference_model(sparse_model, cfg, 50)
    assert (
        len([layer for layer in dense_model.layers if isinstance(layer, keras.layers.Dense)]) == cfg.hidden_layers + 1
    )
    assert dense_model.layers[1].units == cfg.units
    x = random_csr(8, 50)
    batch, _ = next(iter(sparse_batches(CsrRows.from_csr(x, np.zeros(8)), 8, shuffle=False, seed=0)))
    np.testing.assert_allclose(
        sparse_model(batch, training=False).numpy(),
        dense_model(x.toarray(), training=False).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_dense_model_is_plain_keras_and_takes_float32():
    cfg = from_yaml(
        "model", name="m", hidden_layers=2, units=4, regularizer=Regularizer.l2, regularization=0.01, dropout=0.5
    )
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


@pytest.mark.parametrize(
    ("fused", "reference"), [(FusedAdam, keras.optimizers.Adam), (FusedRMSprop, keras.optimizers.RMSprop)]
)
@pytest.mark.parametrize("in_graph", [False, True], ids=["eager", "tf.function"])
def test_fused_optimizers_follow_keras_update_rule(fused, reference, in_graph):
    """A few steps of ``apply``, eager and traced; the 1,000-step ``fit`` comparison is further down."""
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


# Hyperparameters away from Keras's defaults, so a kernel fed a default (or another hyperparameter) in place
# of the configured value differs; epsilon is large enough next to sqrt(v) that where it enters the update
# (outside sqrt(v) for Adam, inside sqrt(ms + eps) for RMSprop, as in Keras) shows in the weights.
FIT_HYPERPARAMETERS = {
    "adam": {"learning_rate": 0.003, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-3},
    "rmsprop": {"learning_rate": 0.003, "rho": 0.8, "epsilon": 1e-4},
}
FIT_STEPS = 1000
# Tolerances, from the observed gap between the fused kernels and Keras's ops in this setup (a different but
# equivalent float32 formula: ~5e-7 in the weights and ~3e-7 relative in the epoch losses after 1,000 steps)
# and from the optimizers broken on purpose in a scratch copy of models.py (smallest effects: learning rate
# x1.01 moves the weights by 7e-3 to 9e-3; Adam's bias correction one step late moves the epoch losses by 9e-4
# relative). The small tanh net at this learning rate keeps round-off from growing; a relu net at lr 0.01
# amplified it to 4e-5 in 1,000 steps, so a change of setup needs the margins measured again.
WEIGHTS_ATOL = 2e-5  # ~40x the round-off, ~400x under the smallest breakage tried
LOSS_RTOL = 2e-5  # ~70x the round-off, ~45x under the smallest breakage tried


@pytest.mark.parametrize(
    ("optimizer", "fused", "stock"),
    [("adam", FusedAdam, keras.optimizers.Adam), ("rmsprop", FusedRMSprop, keras.optimizers.RMSprop)],
)
def test_fused_optimizers_train_like_keras_through_fit(optimizer, fused, stock, monkeypatch):
    """1,000 steps through ``fit`` on the stage path (SeedTrainer: SparseDense over sparse_batches of CsrRows,
    the configured steps_per_execution), fused kernels against Keras's own optimizer: same weights, same losses.
    """
    trainer = validate(compose_config("trainer.batch_size=8", "trainer.verbose=false")).trainer
    per_execution = trainer.steps_per_execution
    steps_per_epoch = per_execution + per_execution // 2 + 2  # a full and a partial execution each epoch
    epochs = math.ceil(FIT_STEPS / steps_per_epoch)
    rows = steps_per_epoch * trainer.batch_size
    x = random_csr(rows, 64, density=0.15, seed=1)
    y = (x @ np.random.default_rng(0).normal(size=64) > 0).astype(np.float32)  # learnable, so the loss moves
    train = CsrRows.from_csr(x, y)
    cfg = from_yaml(
        "model",
        name="m",
        hidden_layers=2,
        units=8,
        activation=Activation.tanh,
        regularizer=Regularizer.l2,
        regularization=1e-3,
        loss=Loss.binary_crossentropy,
    )
    hyperparameters = FIT_HYPERPARAMETERS[optimizer]
    results = {}
    for kind in (fused, stock):
        # SeedTrainer compiles with models.make_optimizer; here it hands out this run's optimizer
        monkeypatch.setattr(models, "make_optimizer", lambda *_args, kind=kind: kind(**hyperparameters))
        seed_trainer = SeedTrainer(cfg, trainer, train, None)
        result = seed_trainer.fit(0, epochs=epochs)  # same seed: same initial weights, same shuffled batches
        model = seed_trainer.model
        assert type(model.optimizer) is kind and model.steps_per_execution == per_execution
        assert int(model.optimizer.iterations) == epochs * steps_per_epoch >= FIT_STEPS
        results[kind] = result.model.get_weights(), np.asarray(result.history["loss"])
    (ours, our_losses), (keras_own, keras_losses) = results[fused], results[stock]
    assert keras_losses[-1] < 0.5 * keras_losses[0]  # it trained: the comparison is of moving weights
    np.testing.assert_allclose(our_losses, keras_losses, rtol=LOSS_RTOL, atol=0)
    for our_weights, keras_weights in zip(ours, keras_own, strict=True):
        np.testing.assert_allclose(our_weights, keras_weights, rtol=0, atol=WEIGHTS_ATOL)


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
    assert {
        type(layer.kernel_regularizer)
        for layer in training.layers
        if hasattr(layer, "kernel_regularizer") and layer.kernel_regularizer
    } == {FusedL2}
    assert {
        type(layer.kernel_regularizer)
        for layer in portable.layers
        if hasattr(layer, "kernel_regularizer") and layer.kernel_regularizer
    } == {keras.regularizers.L2}


def test_make_optimizer_uses_fused_kernels_and_the_configured_learning_rate():
    assert isinstance(make_optimizer(from_yaml("model", name="m", optimizer=Optimizer.adam)), FusedAdam)
    sgd = make_optimizer(from_yaml("model", name="m", optimizer=Optimizer.sgd, learning_rate=0.5))
    assert isinstance(sgd, keras.optimizers.SGD) and float(sgd.learning_rate) == pytest.approx(0.5)
    assert float(
        make_optimizer(from_yaml("model", name="m", optimizer=Optimizer.rmsprop)).learning_rate
    ) == pytest.approx(keras.optimizers.RMSprop().learning_rate.numpy())


def training_pieces(*overrides: str) -> tuple[set[type], set[type], type]:
    """The classes SeedTrainer trains with under these overrides: layers, kernel regularizers, optimizer."""
    cfg = validate(compose_config(*overrides, "trainer.verbose=false"))
    x = random_csr(16, 30)
    model = SeedTrainer(cfg.model, cfg.trainer, CsrRows.from_csr(x, np.zeros(16)), None).start(0)
    layers = {type(layer) for layer in model.layers if isinstance(layer, keras.layers.Dense)}
    penalties = {
        type(layer.kernel_regularizer)
        for layer in model.layers
        if getattr(layer, "kernel_regularizer", None) is not None
    }
    return layers, penalties, type(model.optimizer)


@pytest.mark.parametrize(
    ("variant", "stock_optimizer"), [("l2_3layer", keras.optimizers.Adam), ("base_1layer", keras.optimizers.RMSprop)]
)
def test_fast_path_switch_selects_the_speed_layer_or_stock_keras_classes(variant, stock_optimizer):
    layers, penalties, optimizer = training_pieces(f"model={variant}")
    assert SparseDense in layers and optimizer in (FusedAdam, FusedRMSprop)
    assert penalties == ({FusedL2} if variant == "l2_3layer" else set())
    layers, penalties, optimizer = training_pieces(f"model={variant}", "trainer.fast_path=false")
    assert layers == {keras.layers.Dense} and optimizer is stock_optimizer  # exact classes, no subclass
    assert penalties == ({keras.regularizers.L2} if variant == "l2_3layer" else set())
    assert validate(compose_config()).trainer.fast_path is True  # conf/trainer/default.yaml: on
