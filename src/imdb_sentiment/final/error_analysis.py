"""The final model's most confident mistakes on the test reviews, as a markdown table (``reports/final/errors.md``).

Each review is decoded from its token ids back to words through the word index, undoing what the fetch stage
applied (``rank + index_from``, ``start_char`` first, ``oov_char`` for rare words), so a reader sees the text as
the model saw it. The test rows of ``data/interim/sequences.npz`` are the test matrix's rows, in order.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np

from imdb_sentiment.config.schema import Config
from imdb_sentiment.data.sequences import Ragged, load_sequences
from imdb_sentiment.data.text import EncoderSettings
from imdb_sentiment.runtime.errors import DataError

ROWS_PER_KIND = 10
CELL_CHARS = 300
OOV_MARK = "?"
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_MARKDOWN = re.compile(r"[\\`*_|\[\]]")
TABLE_HEAD = "| # | test row | true label | probability | review |\n|---:|---:|---|---:|---|"


def reverse_index(word_index: dict[str, int], settings: EncoderSettings) -> dict[int, str]:
    """Token id -> word, for the ids the fetch stage can produce (``rank + index_from`` below ``num_words``)."""
    shifted = ((rank + settings.index_from, word) for word, rank in word_index.items())
    return {index: word for index, word in shifted if index < settings.num_words}


def decode(ids, words: dict[int, str], settings: EncoderSettings) -> str:
    """The words of one review: its leading ``start_char`` and padding dropped, ``?`` for out-of-vocabulary ids."""
    ids = [int(i) for i in ids]
    if ids and ids[0] == settings.start_char:
        ids = ids[1:]
    return " ".join(OOV_MARK if i == settings.oov_char else words.get(i, OOV_MARK) for i in ids if i != 0)


def escape_cell(text: str, limit: int = CELL_CHARS) -> str:
    """One markdown table cell: line breaks (HTML or not) as spaces, cut at ``limit`` characters with an
    ellipsis (at a word's end where possible), HTML and markdown's own characters (``|`` included) escaped."""
    text = " ".join(_LINE_BREAK.sub(" ", text).split())
    if len(text) > limit:
        cut = text[:limit]
        text = (cut.rsplit(" ", 1)[0] if " " in cut else cut) + "…"
    return _MARKDOWN.sub(lambda match: "\\" + match.group(), html.escape(text, quote=False))


def confident_errors(y: np.ndarray, prob: np.ndarray, threshold: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the ``k`` false positives with the highest and the ``k`` false negatives with the lowest
    probability (most extreme first; ties in row order)."""
    y, predicted = np.asarray(y).astype(int), np.asarray(prob) >= threshold
    false_pos = np.flatnonzero((y == 0) & predicted)
    false_neg = np.flatnonzero((y == 1) & ~predicted)
    return (
        false_pos[np.argsort(-prob[false_pos], kind="stable")][:k],
        false_neg[np.argsort(prob[false_neg], kind="stable")][:k],
    )


def table(rows: np.ndarray, y: np.ndarray, prob: np.ndarray, texts: dict[int, str]) -> str:
    if not len(rows):
        return "None."
    lines = [
        f"| {rank} | {row} | {'positive' if y[row] else 'negative'} ({int(y[row])}) | {prob[row]:.6f} | "
        f"{escape_cell(texts[row])} |"
        for rank, row in enumerate(rows, start=1)
    ]
    return "\n".join([TABLE_HEAD, *lines])


def errors_markdown(y: np.ndarray, prob: np.ndarray, threshold: float, reviews: Ragged, decoder) -> str:
    """The whole document; ``decoder`` turns one review's token ids into its text."""
    y = np.asarray(y).astype(int)
    false_pos, false_neg = confident_errors(y, prob, threshold, ROWS_PER_KIND)
    texts = {int(row): decoder(reviews.row(int(row))) for row in [*false_pos, *false_neg]}
    wrong = int(np.sum((prob >= threshold) != (y == 1)))
    return (
        "\n\n".join(
            [
                "# The final model's most confident mistakes (test reviews)",
                f"{wrong:,} of {len(y):,} test reviews are misclassified at threshold {threshold:g}. Below, the "
                f"{ROWS_PER_KIND} false positives and {ROWS_PER_KIND} false negatives with the most extreme "
                "probability of a positive review. Each review is decoded from the model's input: lower-cased, "
                f"punctuation removed, `{OOV_MARK}` for a word outside the vocabulary, "
                "`br` for the original's HTML line breaks; "
                f"cut at {CELL_CHARS} characters (…). The test row is the row of `predictions.csv`.",
                "## False positives: negative reviews the model was surest were positive",
                table(false_pos, y, prob, texts),
                "## False negatives: positive reviews the model was surest were negative",
                table(false_neg, y, prob, texts),
            ]
        )
        + "\n"
    )


def error_table(cfg: Config, y: np.ndarray, prob: np.ndarray) -> str:
    """``errors.md`` for the test labels and probabilities, with the reviews of the fetch stage's sequences."""
    splits, _ = load_sequences(Path(cfg.paths.sequences))
    test = splits["test"]
    if not np.array_equal(test.labels.astype(int), np.asarray(y).astype(int)):
        raise DataError(f"{cfg.paths.sequences}: the test labels differ from the features'; re-run the pipeline")
    settings = EncoderSettings(cfg.data.num_words, cfg.data.index_from, cfg.data.start_char, cfg.data.oov_char)
    word_index_path = Path(cfg.paths.raw_dir) / cfg.data.word_index_file
    try:
        words = reverse_index(json.loads(word_index_path.read_text()), settings)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the word index {word_index_path} ({exc}): run the fetch stage") from exc
    return errors_markdown(y, prob, cfg.final.threshold, test.sequences, lambda ids: decode(ids, words, settings))
