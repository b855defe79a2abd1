"""Benchmark: a train stage's fit on a wider feature set (``--features NAME``, e.g. nbsvm_bigrams) beside the
default words, variant by variant: seconds per epoch and peak RSS at that width (issue 29: it stays fast).

Each child builds its features as the vectorize stage does (the training split's n-gram vocabulary and, when
the set scales them, the partial-train rows' naive-Bayes ratios), from ``data/interim/sequences.npz``, then fits
one seed for ``EPOCHS`` epochs without early stopping, as the train stage fits it. Its peak RSS is the whole
child's: imports, features and fit.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace

from .harness import ROOT, SEQUENCES, Table, run_child
from .train_epoch import EPOCHS, epoch_times

DEFAULT = "multihot"


def config(features: str, variant: str):
    from hydra import compose, initialize_config_dir

    from imdb_sentiment.config.schema import validate

    overrides = [f"model={variant}", f"features={features}", "trainer.verbose=false"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return validate(compose(config_name="config", overrides=overrides))


def child(features: str, variant: str) -> dict:
    """One variant on one feature set: features built in process, one seed fitted for EPOCHS epochs."""
    from imdb_sentiment.model.fast_path import keras_backend
    from imdb_sentiment.runtime.quiet import import_keras

    cfg = config(features, variant)
    import_keras(keras_backend(cfg.model, cfg.trainer))
    from imdb_sentiment.data.bigrams import count_vocabulary
    from imdb_sentiment.data.features import feature_matrix, fitted_ratios
    from imdb_sentiment.data.sequences import load_sequences
    from imdb_sentiment.model.batches import CsrRows
    from imdb_sentiment.model.training import train_seed

    splits, num_words = load_sequences(SEQUENCES)
    train = splits["train"]
    first_word = cfg.data.index_from
    vocabulary = count_vocabulary(train.sequences, num_words, first_word, cfg.features.bigrams, cfg.features.trigrams)
    x = feature_matrix(train.sequences, num_words, vocabulary, first_word)
    y = train.labels.astype("float32")
    scale = fitted_ratios(x, y, cfg.features).get("partial")
    n = cfg.features.validation_rows
    rows, validation = CsrRows.from_csr(x[n:], y[n:], scale), CsrRows.from_csr(x[:n], y[:n])
    trainer = replace(cfg.trainer, max_epochs=EPOCHS, patience=EPOCHS)
    stamps: list[float] = []
    started = time.perf_counter()
    result = train_seed(
        cfg.model, trainer, 0, rows, validation, on_epoch_end=lambda *_: stamps.append(time.perf_counter())
    )
    times = epoch_times(stamps, started)
    return {
        "width": x.shape[1],
        "first_epoch_seconds": times[0],
        "median_epoch_seconds": statistics.median(times[1:]),
        "best_val_accuracy": max(result.history["val_accuracy"]),
    }


def measure(features: str, variants: list[str]) -> dict:
    """Each variant on the default words, then on ``features``, each in its own child."""
    table = Table(
        (14, 12, 12, 12, 12, 8, 10),
        ("", f"{DEFAULT} s/ep", "RSS", f"{features[:8]} s/ep", "RSS", "ratio", "val acc"),
        live=True,
    )
    rows = []
    for variant in variants:
        words, wide = run_child("features", DEFAULT, variant), run_child("features", features, variant)
        key = "median_epoch_seconds"
        table.row(
            variant,
            f"{words[key]:.3f} s",
            f"{words['peak_rss_mb']:.0f} MB",
            f"{wide[key]:.3f} s",
            f"{wide['peak_rss_mb']:.0f} MB",
            f"{wide[key] / words[key]:.1f}x",
            f"{wide['best_val_accuracy']:.4f}",
            suffix=f"  (width {words['width']:,} -> {wide['width']:,}; "
            f"val acc on words {words['best_val_accuracy']:.4f})",
        )
        rows.append({"variant": variant, DEFAULT: words, features: wide})
    return {"features": features, "rows": rows}
