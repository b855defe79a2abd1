"""Naive-Bayes log-count ratios (Wang & Manning, 2012): NBSVM's feature scaling, a transform fitted on training rows.

For multi-hot rows ``X`` with labels ``y``, ``r = log((p / |p|_1) / (q / |q|_1))`` with ``p = alpha + sum of
the positive rows`` and ``q = alpha + sum of the negative rows``; every column ``j`` of ``X`` is multiplied by
``r_j`` before the model sees it. Like the vocabulary, the ratios are fitted, so they come only from the rows a
model trains on: the partial-train rows while the variants are compared (the validation rows never count), all
training rows for a model retrained on them. The vectorize stage writes both sets beside the bigram vocabulary;
training applies them, and the saved model holds them folded into its first kernel
(:func:`imdb_sentiment.model.networks.fold_column_scale`), so predict and the served model apply the same
ratios to raw text without a separate step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from imdb_sentiment.runtime.errors import UNREADABLE_ARCHIVE, DataError, unreadable
from imdb_sentiment.runtime.outputs import atomic_path

RATIOS = "nb_ratios.npz"  # written even when scaling is off (empty), so every reader finds one


def log_count_ratios(x: sp.csr_matrix, y: np.ndarray, alpha: float) -> np.ndarray:
    """``r`` for the rows ``x`` (multi-hot) with labels ``y`` (0/1): float32, one per column."""
    positive = np.asarray(y).reshape(-1) > 0.5
    if positive.all() or not positive.any():
        raise DataError("naive-Bayes ratios need training rows of both classes")
    p = alpha + np.asarray(x[positive].sum(axis=0), dtype=np.float64).reshape(-1)
    q = alpha + np.asarray(x[~positive].sum(axis=0), dtype=np.float64).reshape(-1)
    return (np.log(p / p.sum()) - np.log(q / q.sum())).astype(np.float32)


def save_ratios(path: Path, ratios: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **ratios)


def load_ratios(path: Path) -> dict[str, np.ndarray]:
    """The saved sets by the rows they were fitted on; empty when the features are not scaled."""
    if not path.is_file():
        raise DataError(f"{path} is missing: re-run the vectorize stage (dvc repro vectorize)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except UNREADABLE_ARCHIVE as exc:
        raise unreadable(path, exc, str(path.parent), "vectorize") from exc
