"""Raw review text to multi-hot rows, tokenised exactly as the Keras IMDB data was made.

Tokeniser: Keras's ``text_to_word_sequence`` (lower-case, its punctuation filter, split on spaces). Each word
maps through the word index to ``rank + index_from``; unknown words and ranks at or beyond ``num_words``
become ``oov_char``; ``start_char`` opens every review. Then the same multi-hot encoding as training. Shared by
the predict command and the served text model, and free of TensorFlow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import scipy.sparse as sp

from imdb_sentiment.errors import DataError
from imdb_sentiment.features import multi_hot
from imdb_sentiment.sequences import Ragged

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
    """Words -> ids -> multi-hot CSR rows, with the settings the training data was decoded with."""

    def __init__(self, word_index: dict[str, int], settings: EncoderSettings):
        self.word_index = word_index
        self.settings = settings

    @classmethod
    def from_files(cls, word_index_path: Path, settings: EncoderSettings) -> ReviewEncoder:
        try:
            word_index = json.loads(Path(word_index_path).read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the word index {word_index_path} ({exc}): run the fetch stage") from exc
        return cls(word_index, settings)

    def ids(self, text: str) -> list[int]:
        s = self.settings
        ids = [s.start_char]
        for word in text_to_words(text):
            rank = self.word_index.get(word)
            index = rank + s.index_from if rank is not None else s.oov_char
            ids.append(index if index < s.num_words else s.oov_char)
        return ids

    def encode(self, texts: list[str]) -> sp.csr_matrix:
        return multi_hot(Ragged.from_lists([self.ids(text) for text in texts]), self.settings.num_words)
