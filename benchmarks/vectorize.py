"""Benchmark: multi-hot encoding of the 2 × 25,000 reviews, the notebook's ``vectorize_sequences`` against the
vectorize stage's encoding (words only), then ours with the training split's bigrams, which the notebook has no
counterpart for."""

from __future__ import annotations

import time

from .harness import NUM_WORDS, SEQUENCES, Table, contest_row, notebook_against_ours, run_child

BIGRAMS, FIRST_WORD = 50000, 3  # conf/features/multihot_bigrams.yaml; data.index_from


def notebook_vectorize_sequences(sequences, dimension=NUM_WORDS):
    """The original notebook's function, verbatim (dense float64, a Python loop)."""
    import numpy as np

    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.0
    return results


def child(method: str) -> dict:
    """One encoding of both splits in this process, timed; the matrices stay alive until the end, as the notebook
    keeps them, so the peak RSS holds both."""
    from imdb_sentiment.data.sequences import load_sequences

    splits, num_words = load_sequences(SEQUENCES)
    if method == "notebook":  # the notebook's input: Python lists of ids, as keras.datasets.imdb returns
        lists = [[split.sequences.row(i).tolist() for i in range(split.sequences.rows)] for split in splits.values()]
        started = time.perf_counter()
        matrices = [notebook_vectorize_sequences(rows, num_words) for rows in lists]
    else:  # ours: the vectorize stage's encoding, words only or with the training split's BIGRAMS bigrams
        from imdb_sentiment.data.bigrams import count_vocabulary
        from imdb_sentiment.data.features import feature_splits

        started = time.perf_counter()
        size = BIGRAMS if method == "bigrams" else 0
        vocabulary = count_vocabulary(splits["train"].sequences, num_words, FIRST_WORD, size)
        matrices = feature_splits(splits, num_words, vocabulary, FIRST_WORD, "float32")
    seconds = time.perf_counter() - started
    del matrices
    return {"seconds": seconds}


def measure(table: Table) -> dict:
    """The notebook against ours, then ours with bigrams beside the words-only encoding."""
    row = notebook_against_ours("vectorize 50k reviews", "seconds", "vectorize")
    contest_row(table, row, "seconds")
    row["ours_bigrams"] = bigrams = run_child("vectorize", "bigrams")
    table.row(
        "  + 50k bigrams",
        "",
        f"{bigrams['seconds']:.3f} s",
        "",
        "",
        f"{bigrams['peak_rss_mb']:.0f} MB",
        suffix=f"  ({bigrams['seconds'] / row['ours']['seconds']:.1f}x the words-only time)",
    )
    return row
