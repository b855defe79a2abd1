"""The decoded reviews as plain integer arrays: flat tokens plus row offsets, and their labels.

The fetch stage writes them once, pickle-free, and every later stage reads them without ``allow_pickle``;
keeping the format apart from fetching means those stages never import the download and verification code.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imdb_sentiment.runtime.errors import UNREADABLE_ARCHIVE, DataError, unreadable
from imdb_sentiment.runtime.outputs import atomic_path

SPLITS = ("train", "test")


@dataclass
class Ragged:
    """Variable-length integer rows stored flat: row ``i`` is ``tokens[offsets[i]:offsets[i+1]]``."""

    tokens: np.ndarray  # int32
    offsets: np.ndarray  # int64, len = rows + 1

    @property
    def rows(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def row(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    @classmethod
    def from_lists(cls, rows) -> Ragged:
        """Flatten a sequence of integer lists (the Keras object arrays) without a Python loop per token."""
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        tokens = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int32, count=int(offsets[-1]))
        return cls(tokens, offsets)

    def take(self, order: np.ndarray) -> Ragged:
        """Rows in the given order, gathered in one vectorised step."""
        lengths = self.lengths[order]
        offsets = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        shift = np.repeat(self.offsets[:-1][order] - offsets[:-1], lengths)
        return Ragged(self.tokens[np.arange(offsets[-1]) + shift], offsets)

    def followed_by(self, other: Ragged, shift: int) -> Ragged:
        """Each row, then the same row of ``other`` with ``shift`` added: the bigram columns after the word ones
        in a single CSR build, with no second matrix to stack (docs/performance.md)."""
        offsets = self.offsets + other.offsets
        starts = np.zeros(len(self.tokens) + len(other.tokens) + 1, dtype=np.int8)
        np.add.at(starts, offsets[:-1], 1)  # add.at: an empty row's start is the next row's start
        np.add.at(starts, offsets[:-1] + self.lengths, -1)
        mine = np.cumsum(starts[:-1], dtype=np.int8).view(bool)  # 1 from a row's start to the end of its own
        tokens = np.empty(len(mine), dtype=self.tokens.dtype)
        tokens[mine] = self.tokens
        tokens[~mine] = other.tokens + shift
        return Ragged(tokens, offsets)

    def prepend(self, value: int) -> Ragged:
        """Put ``value`` at the start of every row (Keras's ``start_char``)."""
        offsets = self.offsets + np.arange(self.rows + 1)
        tokens = np.empty(len(self.tokens) + self.rows, dtype=self.tokens.dtype)
        is_start = np.zeros(len(tokens), dtype=bool)
        is_start[offsets[:-1]] = True
        tokens[is_start] = value
        tokens[~is_start] = self.tokens
        return Ragged(tokens, offsets)


@dataclass
class Split:
    sequences: Ragged
    labels: np.ndarray  # int8, 0 = negative, 1 = positive


def save_sequences(splits: dict[str, Split], num_words: int, path: Path) -> None:
    """Write the decoded splits as a pickle-free npz."""
    arrays: dict[str, np.ndarray] = {"num_words": np.asarray(num_words, dtype=np.int64)}
    for name, split in splits.items():
        arrays[f"{name}_tokens"] = split.sequences.tokens
        arrays[f"{name}_offsets"] = split.sequences.offsets
        arrays[f"{name}_labels"] = split.labels
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def load_sequences(path: Path) -> tuple[dict[str, Split], int]:
    """Read what :func:`save_sequences` wrote; refuses pickles by construction."""
    if not path.is_file():
        raise DataError(f"{path} is missing: run the fetch stage first (dvc repro fetch)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            splits = {
                name: Split(Ragged(archive[f"{name}_tokens"], archive[f"{name}_offsets"]), archive[f"{name}_labels"])
                for name in SPLITS
            }
            num_words = int(archive["num_words"])
    except UNREADABLE_ARCHIVE as exc:
        raise unreadable(path, exc, str(path), "fetch") from exc
    return splits, num_words
