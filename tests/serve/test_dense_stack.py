"""The NumPy forward pass the text model scores with: Keras's predictions within 1e-6 for every variant's network,
saved and read back without pickle, and refused for a layer it does not do."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from helpers.config import compose_config

from imdb_sentiment.config.schema import validate
from imdb_sentiment.serve.dense_stack import DenseStack, NotADenseStack

VARIANTS = ("linear", "base_1layer", "l2_1layer", "l1_3layer", "l2_3layer")
WIDTH = 300


def reviews(rows: int = 64) -> sp.csr_matrix:
    """Multi-hot rows as the encoder makes them: float32 ones, some rows empty."""
    rng = np.random.default_rng(0)
    dense = (rng.random((rows, WIDTH)) < 0.05).astype(np.float32)
    dense[:3] = 0.0
    return sp.csr_matrix(dense)


def trained_like(variant: str):
    """The variant's plain network, its weights moved off their initial values (biases included)."""
    import keras

    from imdb_sentiment.model.networks import build_model

    cfg = validate(compose_config(f"model={variant}", f"compare.variants=[{','.join(VARIANTS)}]"))
    keras.utils.set_random_seed(1)
    model = build_model(cfg.model, WIDTH, sparse=False)
    rng = np.random.default_rng(2)
    model.set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("variant", VARIANTS)
def test_numpy_scores_equal_keras_for_every_variant(variant, tmp_path):
    from imdb_sentiment.model.evaluate import predict_proba

    model, x = trained_like(variant), reviews()
    stack = DenseStack.from_keras(model)
    stack.save(tmp_path / "stack.npz")
    loaded = DenseStack.load(tmp_path / "stack.npz")
    expected = predict_proba(model, x)
    assert np.max(np.abs(predict_proba(loaded, x) - expected)) <= 1e-6
    assert np.max(np.abs(loaded(x).ravel() - expected)) <= 1e-6  # sparse rows straight in, no densifying
    assert loaded.input_shape == (None, WIDTH) and loaded(x).dtype == np.float32
    assert 0.05 < float(np.std(expected))  # the outputs really differ from row to row


def test_a_layer_the_forward_pass_does_not_do_is_refused():
    import keras

    inputs = keras.Input(shape=(WIDTH,))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.BatchNormalization()(inputs))
    with pytest.raises(NotADenseStack, match=r"BatchNormalization"):
        DenseStack.from_keras(keras.Model(inputs, outputs))
