"""Benchmark: one training epoch of a variant, the notebook's method against ours (``trainer.fast_path`` on, then
off), one seed, ``EPOCHS`` epochs without early stopping.

The first epoch traces the graphs, so it is reported apart; the figure compared is the median of the others, each
including its validation pass.
"""

from __future__ import annotations

import statistics
import time

from .harness import NUM_WORDS, PROCESSED, ROOT, Table, contest_row, notebook_against_ours, run_child

VALIDATION_ROWS, EPOCHS = 10000, 8


def epoch_times(timestamps: list[float], started: float) -> list[float]:
    """Each epoch's wall time, from the end-of-epoch timestamps."""
    return [b - a for a, b in zip([started, *timestamps[:-1]], timestamps, strict=True)]


def config(method: str, variant: str):
    """The variant's own config (batch size, optimizer); ``stock`` turns the speed layer off, same CSR batches."""
    from hydra import compose, initialize_config_dir

    from imdb_sentiment.config.schema import validate

    fast_path = "false" if method == "stock" else "true"
    overrides = [f"model={variant}", "trainer.verbose=false", f"trainer.fast_path={fast_path}"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return validate(compose(config_name="config", overrides=overrides))


def fit_notebook(cfg, data, on_epoch_end) -> tuple[float, list[float]]:
    """The notebook's method: the same network with plain Dense layers and Keras's own optimizer, fed the dense
    float64 arrays the notebook holds. Returns when the fit started and each epoch's validation accuracy."""
    import keras

    from imdb_sentiment.model.networks import build_model

    (x_train, y_train), (x_val, y_val) = data
    keras.utils.set_random_seed(0)
    model = build_model(cfg.model, NUM_WORDS, sparse=False)
    model.compile(optimizer=cfg.model.optimizer.value, loss=cfg.model.loss.value, metrics=["accuracy"])
    dense = [m.toarray().astype("float64") for m in (x_train, x_val)]
    callback = keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)
    started = time.perf_counter()
    history = model.fit(
        dense[0],
        y_train.astype("float64"),
        epochs=EPOCHS,
        batch_size=cfg.trainer.batch_size,
        validation_data=(dense[1], y_val.astype("float64")),
        callbacks=[callback],
        verbose=0,
    )
    return started, history.history["val_accuracy"]


def fit_ours(cfg, data, on_epoch_end) -> tuple[float, list[float]]:
    """Ours: ``training.train_seed`` on CSR batches, early stopping out of reach. Returns as :func:`fit_notebook`."""
    from dataclasses import replace

    from imdb_sentiment.model.batches import CsrRows
    from imdb_sentiment.model.training import train_seed

    (x_train, y_train), (x_val, y_val) = data
    trainer = replace(cfg.trainer, max_epochs=EPOCHS, patience=EPOCHS)
    train, validation = CsrRows.from_csr(x_train, y_train), CsrRows.from_csr(x_val, y_val)
    started = time.perf_counter()
    result = train_seed(cfg.model, trainer, 0, train, validation, on_epoch_end=on_epoch_end)
    return started, result.history["val_accuracy"]


def child(method: str, variant: str) -> dict:
    """One seed, EPOCHS epochs, no early stopping; per-epoch wall time including validation."""
    from imdb_sentiment.data.features import load_features
    from imdb_sentiment.model.fast_path import keras_backend
    from imdb_sentiment.runtime.quiet import import_keras

    cfg = config(method, variant)
    # as the train stage loads Keras: on PyTorch, without TensorFlow, when the speed layer trains the variant
    import_keras("tensorflow" if method == "notebook" else keras_backend(cfg.model, cfg.trainer))
    features = load_features(PROCESSED, NUM_WORDS, VALIDATION_ROWS, splits=("train",))
    data = features.partial_train, features.validation  # sliced once, held for the whole run
    stamps: list[float] = []

    def on_epoch_end(epoch, logs) -> None:
        stamps.append(time.perf_counter())

    fit = fit_notebook if method == "notebook" else fit_ours
    started, val_accuracy = fit(cfg, data, on_epoch_end)
    times = epoch_times(stamps, started)
    return {
        "first_epoch_seconds": times[0],
        "median_epoch_seconds": statistics.median(times[1:]),
        "samples_per_second": data[0][0].shape[0] / statistics.median(times[1:]),
        "best_val_accuracy": max(val_accuracy),
        "final_val_accuracy": val_accuracy[-1],
    }


def measure(variant: str, table: Table) -> dict:
    """The notebook against ours, then ours with the speed layer off (``trainer.fast_path=false``)."""
    key = "median_epoch_seconds"
    row = notebook_against_ours(f"{variant} epoch", key, "train", variant)
    notebook, ours = row["notebook"], row["ours"]
    contest_row(
        table,
        row,
        key,
        suffix=f"  first epoch {notebook['first_epoch_seconds']:.2f}/{ours['first_epoch_seconds']:.2f} s,"
        f" best val acc {notebook['best_val_accuracy']:.4f}/{ours['best_val_accuracy']:.4f}",
    )
    row["ours_fast_path_off"] = stock = run_child("train", "stock", variant)
    table.row(
        f"{variant} epoch, fast_path off",
        "",
        f"{stock[key]:.3f} s",
        suffix=f"  (fast_path on {ours[key]:.3f} s: {stock[key] / ours[key]:.2f}x), "
        f"best val acc {stock['best_val_accuracy']:.4f}",
    )
    return row
