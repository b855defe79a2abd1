"""Raw review text to multi-hot rows, tokenised exactly as the Keras IMDB data was made.

Tokeniser: Keras's ``text_to_word_sequence`` (lower-case, its punctuation filter, split on spaces). Each word
maps through the word index to ``rank + index_from``; ranks at or beyond ``num_words`` become ``oov_char``;
words the index lacks are skipped, as Keras's own sequences skip the test reviews' words the training reviews
never had (so the words either side of one are neighbours, a bigram, in both); ``start_char`` opens every
review. Then the vectorize stage's own encoding
(:func:`imdb_sentiment.data.features.feature_matrix`: words, then the bigram vocabulary's pairs). Shared by the
predict command and the served text model, and free of TensorFlow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from imdb_sentiment.data.bigrams import BigramVocabulary
from imdb_sentiment.data.features import feature_matrix
from imdb_sentiment.data.sequences import Ragged
from imdb_sentiment.runtime.errors import DataError

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_TRANSLATE = str.maketrans({char: " " for char in KERAS_FILTERS})


def text_to_words(text: str) -> list[str]:
    """``keras.preprocessing.text.text_to_word_sequence`` with its defaults."""
    return [word for word in text.lower().translate(_TRANSLATE).split(" ") if word]


@dataclass
class EncoderSettings:
    num_words: int
    index_from: int
    start_char: int
    oov_char: int


class ReviewEncoder:
    """Words -> ids -> multi-hot CSR rows, with the settings and bigram vocabulary the training data had."""

    def __init__(
        self, word_index: dict[str, int], settings: EncoderSettings, vocabulary: BigramVocabulary | None = None
    ):
        self.word_index = word_index
        self.settings = settings
        self.vocabulary = vocabulary if vocabulary is not None else BigramVocabulary.empty(settings.num_words)

    @classmethod
    def from_files(
        cls, word_index_path: Path, settings: EncoderSettings, bigrams_path: Path | None = None
    ) -> ReviewEncoder:
        """``bigrams_path`` None: words only (a model trained without bigrams)."""
        try:
            word_index = json.loads(Path(word_index_path).read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the word index {word_index_path} ({exc}): run the fetch stage") from exc
        return cls(word_index, settings, BigramVocabulary.load(bigrams_path) if bigrams_path else None)

    @property
    def width(self) -> int:
        return self.settings.num_words + self.vocabulary.size

    def ids(self, text: str) -> list[int]:
        return self.counted_ids(text)[0]

    def counted_ids(self, text: str) -> tuple[list[int], float]:
        """The review's ids, and the share of its words the model has a column for (a word of the index
        among its ``num_words``; 0 for a review of no word): a review in another language scores on the few
        words it shares with English reviews, and the share says how few."""
        s = self.settings
        ids, words, known = [s.start_char], text_to_words(text), 0
        for word in words:
            rank = self.word_index.get(word)
            if rank is not None:  # a word the index lacks is skipped, as in the Keras data (see the module)
                column = rank + s.index_from
                known += column < s.num_words
                ids.append(column if column < s.num_words else s.oov_char)
        return ids, (known / len(words) if words else 0.0)

    def known_rows(self, encoded: sp.csr_matrix) -> np.ndarray:
        """Which encoded reviews hold a word the model knows (a column at or past ``index_from``: a word of the
        index among its ``num_words``, or a bigram of two). A review with none encodes as the start and
        out-of-vocabulary tokens alone, and any score of it would be the model's bias."""
        return encoded[:, self.settings.index_from :].getnnz(axis=1) > 0

    def encode(self, texts: list[str]) -> sp.csr_matrix:
        return self.encode_counted(texts)[0]

    def encode_counted(self, texts: list[str]) -> tuple[sp.csr_matrix, np.ndarray]:
        """The rows, and per review the share of its words the model knows (:meth:`counted_ids`)."""
        counted = [self.counted_ids(text) for text in texts]
        rows = Ragged.from_lists([ids for ids, _ in counted])
        shares = np.array([share for _, share in counted], dtype=np.float64)
        return feature_matrix(rows, self.settings.num_words, self.vocabulary, self.settings.index_from), shares
