"""Bigram features: the ``features.bigrams`` most frequent adjacent word pairs of the training split.

A pair is two neighbouring token ids of one review, both real words (ids from ``index_from`` up, so the start
and OOV markers never pair). Its code is ``first * num_words + second``. The vocabulary is counted on the
training split only (never the test reviews), ties broken by the smaller code, and kept in code order: column
``num_words + k`` of the feature matrix is the vocabulary's ``k``-th pair.

Looking a pair up is a rank query on a bitmap over all ``num_words ** 2`` codes (one bit each): a gather and
a popcount per pair, cheaper than ``np.searchsorted`` over the vocabulary (docs/performance.md).
The same code encodes the vectorize stage's rows and the raw text of the predict command and text model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imdb_sentiment.data.sequences import Ragged
from imdb_sentiment.runtime.errors import UNREADABLE_ARCHIVE, unreadable
from imdb_sentiment.runtime.outputs import atomic_path

_ONE = np.uint64(1)
CHUNK = 1 << 16  # pairs looked up per step


def pair_codes(sequences: Ragged, num_words: int, first_word: int) -> np.ndarray:
    """The code of the pair at every adjacent position, -1 where the two tokens are not two words of one review;
    int32 while ``num_words ** 2`` fits (a faster sort). Every position, not a gather of the pairs: 4x faster."""
    tokens = sequences.tokens
    codes = tokens[:-1].astype(np.int32 if num_words**2 < np.iinfo(np.int32).max else np.int64)
    codes *= num_words
    codes += tokens[1:]
    not_pair = tokens[:-1] < first_word
    not_pair |= tokens[1:] < first_word
    crossing = sequences.offsets[1:-1] - 1  # the last token of a review and the first of the next (if any)
    not_pair[crossing[(crossing >= 0) & (crossing < len(not_pair))]] = True
    codes[not_pair] = -1
    return codes


@dataclass
class BigramVocabulary:
    """The pairs behind the bigram columns, in column order, with their training-split counts."""

    pairs: np.ndarray  # (K, 2) int32 token ids
    counts: np.ndarray  # int64
    num_words: int
    _rank: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def empty(cls, num_words: int) -> BigramVocabulary:
        return cls(np.zeros((0, 2), dtype=np.int32), np.zeros(0, dtype=np.int64), num_words)

    @property
    def size(self) -> int:
        return len(self.pairs)

    @property
    def codes(self) -> np.ndarray:
        return self.pairs[:, 0].astype(np.int64) * self.num_words + self.pairs[:, 1]

    def columns(self, codes: np.ndarray) -> np.ndarray:
        """Each int64 code's bigram column (0..K-1), or -1 for a pair outside the vocabulary; in place wherever
        it can (fresh temporaries cost page faults)."""
        bits, before = self._rank_index()
        high = codes >> 6
        word = bits[high]
        bit = _ONE << (codes & 63).view(np.uint64)
        found = (word & bit) != 0
        bit -= _ONE
        word &= bit  # the vocabulary's codes below this one in its 64-bit word
        rank = before[high]
        rank += np.bitwise_count(word)
        rank[~found] = -1
        return rank

    def _rank_index(self) -> tuple[np.ndarray, np.ndarray]:
        """A bit per possible code, and how many set bits precede each 64-bit word (built once, on first use)."""
        if self._rank is None:
            bits = np.zeros(self.num_words**2 // 64 + 1, dtype=np.uint64)
            np.bitwise_or.at(bits, self.codes >> 6, _ONE << (self.codes & 63).view(np.uint64))
            before = np.zeros(len(bits), dtype=np.int32)
            np.cumsum(np.bitwise_count(bits[:-1]), out=before[1:])
            self._rank = bits, before
        return self._rank

    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, pairs=self.pairs, counts=self.counts, num_words=np.int64(self.num_words))

    @classmethod
    def load(cls, path: Path) -> BigramVocabulary:
        try:
            with np.load(path, allow_pickle=False) as archive:
                return cls(archive["pairs"], archive["counts"], int(archive["num_words"]))
        except UNREADABLE_ARCHIVE as exc:
            raise unreadable(path, exc, str(path.parent), "vectorize") from exc


def most_frequent(counts: np.ndarray, size: int) -> np.ndarray:
    """The indices of the ``size`` largest counts, ties to the smaller index, in index order: a partition, not
    a sort of all ~930,000 pairs."""
    if len(counts) <= size:
        return np.arange(len(counts))
    threshold = np.partition(counts, len(counts) - size)[len(counts) - size]  # the size-th largest count
    above = np.flatnonzero(counts > threshold)
    tied = np.flatnonzero(counts == threshold)[: size - len(above)]
    return np.sort(np.concatenate([above, tied]))


def count_vocabulary(train: Ragged, num_words: int, first_word: int, size: int) -> BigramVocabulary:
    """The ``size`` most frequent word pairs of the training rows (fewer if fewer occur)."""
    if size == 0 or len(train.tokens) < 2:
        return BigramVocabulary.empty(num_words)
    unique, counts = np.unique(pair_codes(train, num_words, first_word), return_counts=True)
    unique, counts = unique[unique >= 0], counts[unique >= 0]
    kept = most_frequent(counts, size)
    pairs = np.stack([unique[kept] // num_words, unique[kept] % num_words], axis=1).astype(np.int32)
    return BigramVocabulary(pairs.reshape(-1, 2), counts[kept].astype(np.int64), num_words)


def bigram_rows(sequences: Ragged, vocabulary: BigramVocabulary, first_word: int) -> Ragged:
    """Each row's bigram columns (in order of occurrence, repeats kept), numbered from 0; looked up ``CHUNK``
    positions a step, so each step's temporaries are reused rather than page-faulted in anew (3x faster)."""
    if vocabulary.size == 0 or len(sequences.tokens) < 2:
        return Ragged(np.zeros(0, dtype=np.int32), np.zeros(sequences.rows + 1, dtype=np.int64))
    codes = pair_codes(sequences, vocabulary.num_words, first_word)
    columns = np.empty(len(codes), dtype=np.int32)
    for start in range(0, len(codes), CHUNK):
        chunk = codes[start : start + CHUNK].astype(np.int64)
        columns[start : start + CHUNK] = np.where(chunk >= 0, vocabulary.columns(chunk), -1)
    positions = np.flatnonzero(columns >= 0)
    return Ragged(columns[positions], np.searchsorted(positions, sequences.offsets).astype(np.int64))
