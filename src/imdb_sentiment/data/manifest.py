"""The vectorize stage's manifest: what it built, checked by every later stage before work, and the content
digests that name the data (what MLflow records as the dataset digest)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from imdb_sentiment.data.sequences import SPLITS
from imdb_sentiment.runtime.errors import DataError

MANIFEST = "manifest.json"


@dataclass
class Manifest:
    """What the vectorize stage produced: later stages check it against their own config before work."""

    num_words: int
    bigrams: int  # features.bigrams as configured
    width: int  # num_words + the bigrams and trigrams found (fewer than configured only if fewer occur)
    dtype: str
    rows: dict[str, int]
    validation_rows: int
    split_digests: dict[str, str]
    digest: str
    nb_alpha: float | None = None  # the naive-Bayes ratios' smoothing; None: features.nb_scaling off
    trigrams: int = 0  # features.trigrams as configured

    def check(
        self, num_words: int, validation_rows: int, bigrams: int, nb_alpha: float | None = None, trigrams: int = 0
    ) -> None:
        if not 0 < validation_rows < self.rows["train"]:
            raise DataError(f"features.validation_rows={validation_rows} must be in (0, {self.rows['train']})")
        for key, built, configured in (
            ("data.num_words", self.num_words, num_words),
            ("features.validation_rows", self.validation_rows, validation_rows),
            ("features.bigrams", self.bigrams, bigrams),
            ("features.trigrams", self.trigrams, trigrams),
            ("features.nb_alpha (with features.nb_scaling)", self.nb_alpha, nb_alpha),
        ):
            if built != configured:
                raise DataError(
                    f"features were built with {key}={built}, config says {configured}: re-run the vectorize "
                    f"stage (dvc repro vectorize), or choose the features it was built with"
                )


def split_digest(matrix: sp.csr_matrix, labels: np.ndarray) -> str:
    """sha256 over one split's arrays themselves, so the digest names the data, not the file encoding. The
    arrays' own buffers are hashed: no bytes copy of the matrix."""
    digest = hashlib.sha256()
    for array in (matrix.indptr, matrix.indices, matrix.data, labels):
        digest.update(np.ascontiguousarray(array))
    return digest.hexdigest()


def combined_digest(split_digests: dict[str, str]) -> str:
    """One content hash for the whole vectorized dataset (what MLflow records as the dataset digest)."""
    return hashlib.sha256("".join(split_digests[name] for name in SPLITS).encode()).hexdigest()
