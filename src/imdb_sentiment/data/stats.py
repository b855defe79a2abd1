"""The vectorize stage's DVC metrics (``reports/data/stats.json``): what a person checks first about the data."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from imdb_sentiment.data.sequences import SPLITS


def nnz_stats(matrix: sp.csr_matrix) -> dict[str, float]:
    per_row = np.diff(matrix.indptr)
    return {
        "mean": float(per_row.mean()),
        "std": float(per_row.std()),
        "min": int(per_row.min()),
        "max": int(per_row.max()),
        "total": int(matrix.nnz),
    }


def build_stats(matrices: dict[str, sp.csr_matrix], labels: dict[str, np.ndarray], validation_rows: int) -> dict:
    """The numbers a person checks first: rows, vocabulary, words per review, label balance."""
    stats: dict = {
        "vocabulary": int(matrices["train"].shape[1]),
        "split": {
            "validation_rows": validation_rows,
            "partial_train_rows": int(matrices["train"].shape[0] - validation_rows),
        },
    }
    for name in SPLITS:
        stats[name] = {
            "rows": int(matrices[name].shape[0]),
            "nnz_per_row": nnz_stats(matrices[name]),
            "positive": int(labels[name].sum()),
            "negative": int(len(labels[name]) - labels[name].sum()),
        }
    return stats
