"""Raw review text to probabilities, tokenised exactly as the Keras IMDB data was made.

Tokeniser: Keras's ``text_to_word_sequence`` (lower-case, its punctuation filter, split on spaces). Each word
maps through the word index to ``rank + index_from``; unknown words and ranks at or beyond ``num_words``
become ``oov_char``; ``start_char`` opens every review. Then the same multi-hot encoding as training.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from imdb_sentiment.sequences import Ragged
from imdb_sentiment.errors import DataError, first_line
from imdb_sentiment.features import multi_hot
from imdb_sentiment.quiet import import_tensorflow

log = logging.getLogger(__name__)

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_TRANSLATE = str.maketrans({char: " " for char in KERAS_FILTERS})
PREDICT_ROWS = 512  # rows densified at a time: 512 x 10,000 float32 is 20 MB


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


def predict_proba(model, x: sp.csr_matrix, rows: int = PREDICT_ROWS) -> np.ndarray:
    """Positive-class probabilities, densifying a bounded number of rows at a time."""
    out = np.empty(x.shape[0], dtype=np.float32)
    for start in range(0, x.shape[0], rows):
        chunk = x[start : start + rows].toarray()
        out[start : start + rows] = np.asarray(model(chunk, training=False)).reshape(-1)
    return out


Review = tuple[int, str]  # (line number in the input, 1 for text=; the review)


def file_lines(content: str) -> list[str]:
    """The file's lines, ended at "\\n" only (one "\\r" before it is dropped).

    ``str.splitlines`` would also break at U+0085, U+2028, form feed, \\x1c… which real reviews contain,
    and so score one review as two and shift every later row against the input. The file's final newline
    does not open another line.
    """
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def numbered_reviews(lines: list[str], file: str) -> list[Review]:
    """The non-blank lines with their line numbers; blank ones are skipped and reported once."""
    reviews, blank = [], []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            reviews.append((number, line))
        else:
            blank.append(number)
    if not reviews:
        raise DataError(f"file={file} has no review: every line is blank; give one review per line")
    if blank:
        shown = ", ".join(map(str, blank[:5])) + (", ..." if len(blank) > 5 else "")
        log.warning("file=%s: skipped blank lines: %d (lines %s)", file, len(blank), shown)
    return reviews


def read_file_reviews(file: str, max_reviews: int, max_chars: int) -> list[Review]:
    """file='s reviews, one a line; the size is checked before the file is read, so a huge file is refused
    without being loaded."""
    path = Path(file)
    if not path.is_file():
        raise DataError(f"file={file}: no such file")
    if path.stat().st_size > max_reviews * (max_chars + 1):
        raise DataError(f"file={file} is larger than predict.max_reviews x predict.max_review_chars")
    try:
        content = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"file={file} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    reviews = numbered_reviews(file_lines(content), file)
    if len(reviews) > max_reviews:
        raise DataError(f"file={file} has {len(reviews)} reviews; predict.max_reviews is {max_reviews}")
    return reviews


def read_reviews(text: str | None, file: str | None, max_reviews: int, max_chars: int) -> list[Review]:
    """The reviews to score with their line numbers, refused with a clear message when there is none, the
    input is not text, or too large."""
    if (text is None) == (file is None):
        raise DataError('give exactly one of text="..." or file=path/to/reviews.txt')
    if text is not None:
        if not str(text).strip():
            raise DataError("text is empty: give a review to score")
        reviews = [(1, str(text))]
    else:
        reviews = read_file_reviews(file, max_reviews, max_chars)
    for number, review in reviews:
        if len(review) > max_chars:
            where = "text" if text is not None else f"line {number} of {file}"
            raise DataError(f"{where} has {len(review)} characters; predict.max_review_chars is {max_chars}")
    return reviews


def load_champion(cfg) -> tuple[object, str]:
    """The registry's champion Keras model, or the last retrained model on disk when there is none."""
    import keras
    import mlflow
    from mlflow.exceptions import MlflowException

    from imdb_sentiment.tracking_store import setup_tracking

    uri = cfg.model_uri or f"models:/{cfg.final.registered_model_name}@{cfg.final.alias}"
    try:
        setup_tracking(cfg.tracking)
        return mlflow.keras.load_model(uri), uri
    except (MlflowException, OSError) as exc:
        fallback = Path(cfg.paths.models_dir) / "final" / "model.keras"
        if not fallback.is_file():
            raise DataError(f"no model: {uri} cannot be loaded ({first_line(exc)}) and {fallback} "
                            f"does not exist; run the pipeline first (dvc repro)") from exc
        log.warning("%s cannot be loaded (%s); using %s", uri, first_line(exc), fallback)
        try:
            return keras.models.load_model(fallback, compile=False), str(fallback)
        except Exception as load_error:  # Keras raises ValueError, OSError, zipfile errors… for a bad file
            raise DataError(f"{fallback} cannot be loaded ({type(load_error).__name__}: "
                            f"{first_line(load_error)[:200]}); re-run retrain_final") from load_error


def preview(review: str, width: int = 70) -> str:
    """The review's start on one line of the table: tabs and line-breaking characters (U+0085, U+2028…)
    would split its row or its columns, so every run of whitespace becomes one space."""
    flat = " ".join(review.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def sentiment(label: int) -> str:
    """The label's name, as the predict command prints it and the served text model returns it."""
    return "positive" if label else "negative"


def predict_reviews(cfg) -> list[tuple[int, float, int, str]]:
    """The predict command: score each review; print and return its input line, probability, label and
    review (the printed review cut to its start)."""
    reviews = read_reviews(cfg.text, cfg.file, cfg.max_reviews, cfg.max_review_chars)
    settings = EncoderSettings(cfg.data.num_words, cfg.data.index_from, cfg.data.start_char, cfg.data.oov_char)
    encoder = ReviewEncoder.from_files(Path(cfg.paths.raw_dir) / cfg.data.word_index_file, settings)
    import_tensorflow()  # only once the input is known to be usable: TensorFlow takes seconds to load
    import keras

    keras.utils.disable_interactive_logging()
    model, source = load_champion(cfg)
    probabilities = predict_proba(model, encoder.encode([review for _, review in reviews]))
    results = [(line, float(p), int(p >= cfg.final.threshold), review)
               for p, (line, review) in zip(probabilities, reviews)]
    print(f"# model: {source}")
    print("line\tprobability\tlabel\treview")
    for line, probability, label, review in results:
        print(f"{line}\t{probability:.4f}\t{sentiment(label)}\t{preview(review)}")
    return results
