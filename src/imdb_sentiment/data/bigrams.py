"""N-gram features: the ``features.bigrams`` most frequent adjacent word pairs of the training split, and its
``features.trigrams`` most frequent runs of three words.

A pair is two neighbouring token ids of one review, both real words (ids from ``index_from`` up, so the start
and OOV markers never pair). Its code is ``first * num_words + second``; a triple's is
``(first * num_words + second) * num_words + third``. The vocabulary is counted on the training split only
(never the test reviews), ties broken by the smaller code, and kept in code order: column ``num_words + k`` of
the feature matrix is the vocabulary's ``k``-th pair, and the triples' columns follow the pairs'.

Looking a pair up is a rank query on a bitmap over all ``num_words ** 2`` codes (one bit each): a gather and
a popcount per pair, cheaper than ``np.searchsorted`` over the vocabulary (docs/performance.md). A triple's
``num_words ** 3`` codes are too many for a bitmap, so it is a ``np.searchsorted``.
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


def triple_codes(sequences: Ragged, num_words: int, first_word: int) -> np.ndarray:
    """The code of the three words starting at every position, -1 where they are not three words of one review."""
    tokens = sequences.tokens
    if len(tokens) < 3:
        return np.zeros(0, dtype=np.int64)
    codes = tokens[:-2].astype(np.int64) * num_words
    codes += tokens[1:-1]
    codes *= num_words
    codes += tokens[2:]
    not_triple = (tokens[:-2] < first_word) | (tokens[1:-1] < first_word) | (tokens[2:] < first_word)
    ends = sequences.offsets[1:-1]  # a review's last two positions start a triple that runs into the next review
    for crossing in (ends - 1, ends - 2):
        not_triple[crossing[(crossing >= 0) & (crossing < len(not_triple))]] = True
    codes[not_triple] = -1
    return codes


def no_triples() -> np.ndarray:
    return np.zeros((0, 3), dtype=np.int32)


@dataclass
class BigramVocabulary:
    """The pairs behind the bigram columns, in column order, with their training-split counts; then the
    triples behind the trigram columns, which follow them."""

    pairs: np.ndarray  # (K, 2) int32 token ids
    counts: np.ndarray  # int64
    num_words: int
    triples: np.ndarray = field(default_factory=no_triples)  # (T, 3) int32 token ids, in code order
    triple_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _rank: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def empty(cls, num_words: int) -> BigramVocabulary:
        return cls(np.zeros((0, 2), dtype=np.int32), np.zeros(0, dtype=np.int64), num_words)

    @property
    def size(self) -> int:
        """All its columns: the pairs' and the triples'."""
        return len(self.pairs) + len(self.triples)

    @property
    def triple_codes(self) -> np.ndarray:
        t = self.triples.astype(np.int64)
        return (t[:, 0] * self.num_words + t[:, 1]) * self.num_words + t[:, 2]

    def triple_columns(self, codes: np.ndarray) -> np.ndarray:
        """Each int64 triple code's trigram column (0..T-1), or -1 outside the vocabulary."""
        known = self.triple_codes
        if len(known) == 0:
            return np.full(len(codes), -1, dtype=np.int64)
        at = np.searchsorted(known, codes)
        found = known[np.minimum(at, len(known) - 1)] == codes
        return np.where(found, at, -1)

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
            np.savez(
                handle,
                pairs=self.pairs,
                counts=self.counts,
                num_words=np.int64(self.num_words),
                triples=self.triples,
                triple_counts=self.triple_counts,
            )

    @classmethod
    def load(cls, path: Path) -> BigramVocabulary:
        """Its archive; one written before trigram features has no triples."""
        try:
            with np.load(path, allow_pickle=False) as archive:
                vocabulary = cls(archive["pairs"], archive["counts"], int(archive["num_words"]))
                if "triples" in archive.files:
                    vocabulary.triples, vocabulary.triple_counts = archive["triples"], archive["triple_counts"]
                return vocabulary
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


def most_frequent_codes(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``size`` most frequent of ``codes`` (-1 ignored), in code order, with their counts."""
    unique, counts = np.unique(codes, return_counts=True)
    unique, counts = unique[unique >= 0], counts[unique >= 0]
    kept = most_frequent(counts, size)
    return unique[kept].astype(np.int64), counts[kept].astype(np.int64)


def count_vocabulary(train: Ragged, num_words: int, first_word: int, size: int, trigrams: int = 0) -> BigramVocabulary:
    """The ``size`` most frequent word pairs of the training rows and their ``trigrams`` most frequent triples
    (fewer if fewer occur)."""
    vocabulary = BigramVocabulary.empty(num_words)
    if size and len(train.tokens) >= 2:
        codes, vocabulary.counts = most_frequent_codes(pair_codes(train, num_words, first_word), size)
        vocabulary.pairs = np.stack([codes // num_words, codes % num_words], axis=1).astype(np.int32).reshape(-1, 2)
    if trigrams:
        codes, vocabulary.triple_counts = most_frequent_codes(triple_codes(train, num_words, first_word), trigrams)
        digits = [codes // num_words**2, codes // num_words % num_words, codes % num_words]
        vocabulary.triples = np.stack(digits, axis=1).astype(np.int32).reshape(-1, 3)
    return vocabulary


def bigram_rows(sequences: Ragged, vocabulary: BigramVocabulary, first_word: int) -> Ragged:
    """Each row's bigram columns (in order of occurrence, repeats kept), numbered from 0; looked up ``CHUNK``
    positions a step, so each step's temporaries are reused rather than page-faulted in anew (3x faster)."""
    if len(vocabulary.pairs) == 0 or len(sequences.tokens) < 2:
        return Ragged(np.zeros(0, dtype=np.int32), np.zeros(sequences.rows + 1, dtype=np.int64))
    codes = pair_codes(sequences, vocabulary.num_words, first_word)
    columns = np.empty(len(codes), dtype=np.int32)
    for start in range(0, len(codes), CHUNK):
        chunk = codes[start : start + CHUNK].astype(np.int64)
        columns[start : start + CHUNK] = np.where(chunk >= 0, vocabulary.columns(chunk), -1)
    return found_columns(columns, sequences)


def trigram_rows(sequences: Ragged, vocabulary: BigramVocabulary, first_word: int) -> Ragged:
    """Each row's trigram columns (in order of occurrence, repeats kept), numbered from 0."""
    codes = triple_codes(sequences, vocabulary.num_words, first_word)
    columns = np.where(codes >= 0, vocabulary.triple_columns(codes), -1)
    return found_columns(columns, sequences)


def found_columns(columns: np.ndarray, sequences: Ragged) -> Ragged:
    """Per row of ``sequences``, the columns found at its positions (-1: not in the vocabulary), int32."""
    positions = np.flatnonzero(columns >= 0)
    found = columns[positions].astype(np.int32, copy=False)
    return Ragged(found, np.searchsorted(positions, sequences.offsets).astype(np.int64))
