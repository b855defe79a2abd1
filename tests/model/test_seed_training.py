"""Training a seed (model/training.py) on the fixture's features: reproducible per seed, the same with one traced
model for all seeds and with the speed layer off, the saved weights the ones the metrics describe, and a fixture
signal the study's model learns."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.config import compose_config, from_yaml

from imdb_sentiment.config.schema import Loss, Monitor, Optimizer, Regularizer, validate
from imdb_sentiment.data.features import load_features
from imdb_sentiment.model.batches import CsrRows
from imdb_sentiment.model.training import SeedTrainer, train_seed


def tiny_features(vectorized_fixture):
    project, _ = vectorized_fixture
    return load_features(project / "data/processed", num_words=30, validation_rows=16, splits=("train",))


def test_same_seed_gives_the_same_metrics(vectorized_fixture):
    features = tiny_features(vectorized_fixture)
    cfg = from_yaml(
        "model", name="t", hidden_layers=2, units=8, regularizer=Regularizer.l2, regularization=0.01, dropout=0.5
    )
    trainer = from_yaml("trainer", max_epochs=3, batch_size=8, eval_batch_size=8, patience=5, verbose=False)
    train, validation = CsrRows.from_csr(*features.partial_train), CsrRows.from_csr(*features.validation)
    runs = [train_seed(cfg, trainer, seed, train, validation).history for seed in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_seeds_sharing_one_traced_model_match_a_new_model_per_seed(vectorized_fixture):
    features = tiny_features(vectorized_fixture)
    cfg = from_yaml(
        "model", name="t", hidden_layers=2, units=8, regularizer=Regularizer.l2, regularization=0.01, dropout=0.5
    )
    trainer = from_yaml("trainer", max_epochs=3, batch_size=8, eval_batch_size=8, patience=5, verbose=False)
    train, validation = CsrRows.from_csr(*features.partial_train), CsrRows.from_csr(*features.validation)
    shared = SeedTrainer(cfg, trainer, train, validation)
    reused = [shared.fit(seed) for seed in (3, 4, 3)]
    assert [r.history for r in reused] == [
        train_seed(cfg, trainer, seed, train, validation).history for seed in (3, 4, 3)
    ]
    weights = [train_seed(cfg, trainer, 4, train, validation).model.get_weights(), reused[1].model.get_weights()]
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))


# trainer.fast_path on (the PyTorch loop) against off (Keras's fit), same rows, same initial weights, same
# batch order: the gap is float32 round-off of the same maths in other kernels. Dropout is off here: its masks
# come from PyTorch's generator in the loop and from TensorFlow's in Keras, so with dropout the two paths
# agree in distribution (tests/model/test_models.py), not mask for mask.
SWITCH_LOSS_RTOL = 2e-5


@pytest.mark.parametrize(
    "variant", ["l2_3layer model.dropout=0", "base_1layer"]
)  # Adam + L2 over three layers, RMSprop
def test_training_with_the_speed_layer_off_gives_the_same_metrics(vectorized_fixture, variant):
    features = tiny_features(vectorized_fixture)
    train, validation = CsrRows.from_csr(*features.partial_train), CsrRows.from_csr(*features.validation)
    results = {}
    for fast_path in (True, False):
        cfg = validate(
            compose_config(
                f"model={variant.split()[0]}",
                *variant.split()[1:],
                "trainer.max_epochs=6",
                "trainer.patience=6",
                "trainer.batch_size=8",
                "trainer.eval_batch_size=8",
                "trainer.verbose=false",
                "trainer.steps_per_execution=2",
                f"trainer.fast_path={str(fast_path).lower()}",
            )
        )
        seed_trainer = SeedTrainer(cfg.model, cfg.trainer, train, validation)
        results[fast_path] = [seed_trainer.fit(seed) for seed in (0, 1)]
    for fast, stock in zip(results[True], results[False], strict=True):
        assert fast.history.keys() == stock.history.keys() and len(fast.history["loss"]) == 6
        for key in ("loss", "val_loss"):
            np.testing.assert_allclose(fast.history[key], stock.history[key], rtol=SWITCH_LOSS_RTOL, atol=0)
        for key in ("accuracy", "val_accuracy"):  # a prediction would have to sit within 1e-6 of 0.5 to flip
            assert fast.history[key] == stock.history[key]
        assert fast.summary["best_epoch"] == stock.summary["best_epoch"]
        assert fast.history["loss"] != stock.history["loss"]  # really two code paths


OVERFITTING = dict(
    name="t", hidden_layers=2, units=32, learning_rate=0.05, optimizer=Optimizer.adam, loss=Loss.binary_crossentropy
)  # learns the fixture's validation reviews within a few epochs: its validation accuracy then stops rising


@pytest.mark.parametrize("restore", [True, False])
def test_the_saved_model_is_the_one_its_metrics_describe(vectorized_fixture, restore):
    """Early stopping past the best epoch: the saved weights are the best epoch's (or, when asked, the last's)."""
    features = tiny_features(vectorized_fixture)
    trainer = from_yaml(
        "trainer",
        max_epochs=30,
        batch_size=8,
        eval_batch_size=8,
        patience=3,
        verbose=False,
        monitor=Monitor.val_accuracy,  # an accuracy that cannot rise further ends the fit past its best epoch
        restore_best_weights=restore,
    )
    x_val, y_val = features.validation
    train, validation = CsrRows.from_csr(*features.partial_train), CsrRows.from_csr(x_val, y_val)
    result = train_seed(from_yaml("model", **OVERFITTING), trainer, 0, train, validation)
    summary, history = result.summary, result.history
    assert summary["best_epoch"] < summary["epochs_run"], "the fit must go past its best epoch to test this"
    kept = summary["best_epoch"] - 1 if restore else -1
    assert summary["saved_val_loss"] == pytest.approx(history["val_loss"][kept], rel=1e-5)
    assert summary["saved_val_accuracy"] == pytest.approx(history["val_accuracy"][kept])
    probabilities = result.model.predict(x_val.toarray(), verbose=0).reshape(-1)  # the dense model that is saved
    assert np.mean((probabilities >= 0.5) == (y_val == 1)) == pytest.approx(summary["saved_val_accuracy"])
    if restore:
        assert (summary["saved_val_accuracy"], summary["saved_val_loss"]) == pytest.approx(
            (summary["best_val_accuracy"], summary["best_val_loss"]), rel=1e-5
        )


def test_the_fixture_has_a_signal_the_study_model_learns(vectorized_fixture):
    """The fixture's labels follow its words, so a broken training path shows as low validation accuracy."""
    features = tiny_features(vectorized_fixture)
    trainer = from_yaml("trainer", max_epochs=40, batch_size=8, eval_batch_size=8, patience=40, verbose=False)
    train, validation = CsrRows.from_csr(*features.partial_train), CsrRows.from_csr(*features.validation)
    result = train_seed(from_yaml("model", name="base", learning_rate=0.01), trainer, 0, train, validation)
    assert result.summary["best_val_accuracy"] > 0.9


def test_a_signal_whose_raise_was_swallowed_stops_training_at_the_next_step(vectorized_fixture, monkeypatch):
    """A SIGTERM recorded while a native call or a library swallowed its exception stops the fit at the next
    batch, not after the last epoch (runtime/signals.py)."""
    import signal

    from imdb_sentiment.runtime import signals

    features = tiny_features(vectorized_fixture)
    cfg = from_yaml("model", name="t", hidden_layers=1, units=4)
    trainer = from_yaml("trainer", max_epochs=50, batch_size=8, eval_batch_size=8, patience=50, verbose=False)
    train, validation = CsrRows.from_csr(*features.partial_train), CsrRows.from_csr(*features.validation)
    monkeypatch.setattr(signals, "_received", [signal.SIGTERM])  # as the handler leaves it
    with pytest.raises(signals.Terminated):
        train_seed(cfg, trainer, 0, train, validation)


def test_a_batch_larger_than_the_training_rows_is_warned_about(vectorized_fixture, caplog):
    features = tiny_features(vectorized_fixture)
    cfg = from_yaml("model", name="t", hidden_layers=1, units=4)
    trainer = from_yaml("trainer", max_epochs=1, batch_size=100_000, eval_batch_size=8, patience=1, verbose=False)
    train, validation = CsrRows.from_csr(*features.partial_train), CsrRows.from_csr(*features.validation)
    SeedTrainer(cfg, trainer, train, validation)
    assert f"trainer.batch_size=100000 is larger than the {train.rows} training rows" in caplog.text
