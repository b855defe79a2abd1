"""Multi-hot encoding of the review sequences as float32 CSR matrices.

The original notebook filled a dense float64 25,000 x 10,000 array with a Python loop (2 GB per split).
Here the token rows already are a CSR structure: ``(ones, tokens, offsets)`` is a CSR matrix with repeated
columns, and summing the duplicates then resetting the values to 1 gives the same multi-hot matrix.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from imdb_sentiment.errors import DataError
from imdb_sentiment.feature_stats import build_stats
from imdb_sentiment.outputs import atomic_path, write_json
from imdb_sentiment.sequences import SPLITS, Ragged, Split

if TYPE_CHECKING:
    from imdb_sentiment.config import Config

MANIFEST = "manifest.json"
LABELS = "labels.npz"


def multi_hot(sequences: Ragged, num_words: int, dtype: str = "float32") -> sp.csr_matrix:
    """Rows of token ids -> a CSR matrix with 1 in every column a row mentions."""
    if len(sequences.tokens) and (sequences.tokens.min() < 0 or sequences.tokens.max() >= num_words):
        raise DataError(f"token ids outside [0, {num_words}): the sequences do not match data.num_words")
    index_dtype = np.int32 if len(sequences.tokens) < np.iinfo(np.int32).max else np.int64
    matrix = sp.csr_matrix(
        (
            np.ones(len(sequences.tokens), dtype=dtype),
            sequences.tokens.astype(index_dtype, copy=False),
            sequences.offsets.astype(index_dtype),
        ),
        shape=(sequences.rows, num_words),
    )
    matrix.sum_duplicates()  # sorts each row's columns and merges repeats, in scipy's C++ code
    matrix.data[:] = 1
    return matrix


def multi_hot_splits(splits: dict[str, Split], num_words: int, dtype: str = "float32") -> dict[str, sp.csr_matrix]:
    """Every split at once: scipy's sparse kernels release the GIL, so two threads use both cores."""
    with ThreadPoolExecutor(max_workers=len(splits)) as pool:
        matrices = pool.map(lambda split: multi_hot(split.sequences, num_words, dtype), splits.values())
        return dict(zip(splits, matrices, strict=True))


@dataclass
class Manifest:
    """What the vectorize stage produced: later stages check it against their own config before work."""

    num_words: int
    dtype: str
    rows: dict[str, int]
    validation_rows: int
    split_digests: dict[str, str]
    digest: str

    def check(self, num_words: int, validation_rows: int) -> None:
        if self.num_words != num_words:
            raise DataError(
                f"features were built with num_words={self.num_words}, config says {num_words}: "
                f"re-run the vectorize stage (dvc repro vectorize)"
            )
        if not 0 < validation_rows < self.rows["train"]:
            raise DataError(f"features.validation_rows={validation_rows} must be in (0, {self.rows['train']})")
        if self.validation_rows != validation_rows:
            raise DataError(
                f"features were split with validation_rows={self.validation_rows}, config says "
                f"{validation_rows}: re-run the vectorize stage (dvc repro vectorize)"
            )


def split_digest(matrix: sp.csr_matrix, labels: np.ndarray) -> str:
    """sha256 over one split's arrays themselves, so the digest names the data, not the file encoding."""
    digest = hashlib.sha256()
    for array in (matrix.indptr, matrix.indices, matrix.data, labels):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def combined_digest(split_digests: dict[str, str]) -> str:
    """One content hash for the whole vectorized dataset (what MLflow records as the dataset digest)."""
    return hashlib.sha256("".join(split_digests[name] for name in SPLITS).encode()).hexdigest()


def vectorize(
    splits: dict[str, Split], num_words: int, dtype: str, validation_rows: int, out_dir: Path, stats_path: Path
) -> Manifest:
    """The vectorize stage: CSR matrices, labels, a manifest with the content digest, and stats."""
    matrices = multi_hot_splits(splits, num_words, dtype)
    labels = {name: splits[name].labels.astype(np.float32) for name in SPLITS}
    digests = {name: split_digest(matrices[name], labels[name]) for name in SPLITS}
    manifest = Manifest(
        num_words=num_words,
        dtype=dtype,
        rows={name: int(matrices[name].shape[0]) for name in SPLITS},
        validation_rows=validation_rows,
        split_digests=digests,
        digest=combined_digest(digests),
    )
    manifest.check(num_words, validation_rows)
    for name in SPLITS:
        with atomic_path(out_dir / f"x_{name}.npz") as tmp, open(tmp, "wb") as handle:
            sp.save_npz(handle, matrices[name], compressed=False)
    with atomic_path(out_dir / LABELS) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **{f"y_{name}": labels[name] for name in SPLITS})
    write_json(stats_path, build_stats(matrices, labels, validation_rows))
    write_json(out_dir / MANIFEST, asdict(manifest))  # written last: its presence means the rest is complete
    return manifest


@dataclass
class Features:
    """The vectorized data as later stages use it, with the seed's validation split applied.

    Only the splits a stage asked for are loaded (training never holds the test matrix in memory).
    """

    manifest: Manifest
    matrices: dict[str, sp.csr_matrix]
    labels: dict[str, np.ndarray]

    @property
    def validation(self) -> tuple[sp.csr_matrix, np.ndarray]:
        n = self.manifest.validation_rows
        return self.matrices["train"][:n], self.labels["train"][:n]

    @property
    def partial_train(self) -> tuple[sp.csr_matrix, np.ndarray]:
        n = self.manifest.validation_rows
        return self.matrices["train"][n:], self.labels["train"][n:]

    @property
    def full_train(self) -> tuple[sp.csr_matrix, np.ndarray]:
        return self.matrices["train"], self.labels["train"]

    @property
    def test(self) -> tuple[sp.csr_matrix, np.ndarray]:
        return self.matrices["test"], self.labels["test"]


def load_features(out_dir: Path, num_words: int, validation_rows: int, splits: tuple[str, ...] = SPLITS) -> Features:
    """Load ``splits`` and check them against the config and their content digests; never unpickles."""
    manifest_path = out_dir / MANIFEST
    if not manifest_path.is_file():
        raise DataError(f"{manifest_path} is missing: run the vectorize stage first (dvc repro vectorize)")
    try:
        manifest = Manifest(**json.loads(manifest_path.read_text()))
    except (ValueError, TypeError) as exc:
        raise DataError(f"{manifest_path}: unreadable manifest ({exc}); re-run the vectorize stage") from exc
    manifest.check(num_words, validation_rows)
    matrices, labels = {}, {}
    for name in splits:
        try:
            matrices[name] = sp.load_npz(out_dir / f"x_{name}.npz").tocsr()
            with np.load(out_dir / LABELS, allow_pickle=False) as archive:
                labels[name] = archive[f"y_{name}"]
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{out_dir}: unreadable features ({exc}); re-run the vectorize stage") from exc
        shape = (manifest.rows[name], manifest.num_words)
        if matrices[name].shape != shape or len(labels[name]) != shape[0]:
            raise DataError(f"{out_dir}/x_{name}.npz has shape {matrices[name].shape}, manifest says {shape}")
        if split_digest(matrices[name], labels[name]) != manifest.split_digests[name]:
            raise DataError(
                f"{out_dir}: the {name} split's content digest differs from the manifest; re-run the vectorize stage"
            )
    return Features(manifest, matrices, labels)


def load_configured_features(cfg: Config, splits: tuple[str, ...]) -> Features:
    """``splits`` of the features the config's paths, data and features groups name (train and retrain_final)."""
    return load_features(Path(cfg.paths.processed_dir), cfg.data.num_words, cfg.features.validation_rows, splits)
