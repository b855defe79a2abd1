"""The final model's extra figures are written, and errors.md picks, decodes and escapes the right reviews."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from helpers.project import CONF_DIR
from hydra import compose, initialize_config_dir

from imdb_sentiment.config.schema import validate
from imdb_sentiment.data.sequences import Ragged, Split, save_sequences
from imdb_sentiment.data.text import EncoderSettings
from imdb_sentiment.final.error_analysis import (
    confident_errors,
    decode,
    error_table,
    errors_markdown,
    escape_cell,
    reverse_index,
)
from imdb_sentiment.final.figures import write_final_figures
from imdb_sentiment.report import page as results_page
from imdb_sentiment.runtime.errors import DataError

SETTINGS = EncoderSettings(num_words=9, index_from=3, start_char=1, oov_char=2)
WORD_INDEX = {"the": 1, "film": 2, "was": 3, "great": 4, "dull": 5, "rare": 6}  # rare: 6 + 3 >= num_words
FIGURES = (
    "confusion_matrix.png",
    "roc_curve.png",
    "learning_curve.png",
    "pr_curve.png",
    "probability_histogram.png",
    "calibration_curve.png",
)


def test_the_figures_are_written_as_non_empty_pngs(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(200) % 2
    prob = np.clip(0.3 * y + 0.35 + rng.normal(0, 0.2, 200), 0, 1)
    history = {"loss": [0.6, 0.4, 0.3], "accuracy": [0.7, 0.8, 0.85]}
    write_final_figures(tmp_path, history, y.astype(np.float32), prob, 0.5, "binary_crossentropy")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FIGURES)
    for name in FIGURES:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000, name
    assert set(FIGURES) <= set(results_page.FIGURES)  # the results page says what each one shows


def test_decoding_undoes_index_from_and_start_char_and_marks_unknown_ids():
    words = reverse_index(WORD_INDEX, SETTINGS)
    assert words == {4: "the", 5: "film", 6: "was", 7: "great", 8: "dull"}
    ids = [1, 4, 5, 6, 7, 2, 8]  # start, the film was great, OOV, dull
    assert decode(ids, words, SETTINGS) == "the film was great ? dull"
    assert decode(np.array([1, 0, 8, 3], dtype=np.int32), words, SETTINGS) == "dull ?"  # padding dropped


def test_the_most_confident_errors_of_each_kind_come_first():
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1, 0, 1])
    prob = np.array([0.9, 0.6, 0.1, 0.2, 0.05, 0.8, 0.99, 0.4, 0.6, 0.5])
    false_pos, false_neg = confident_errors(y, prob, 0.5, k=2)
    assert false_pos.tolist() == [6, 0]  # 0.99, 0.9; rows 1 and 8 (0.6) left out
    assert false_neg.tolist() == [4, 3]  # 0.05, 0.2; row 7 (0.4) left out; row 9 (0.5) is right at 0.5
    all_pos, all_neg = confident_errors(y, prob, 0.5, k=10)
    assert all_pos.tolist() == [6, 0, 1, 8] and all_neg.tolist() == [4, 3, 7]  # ties in row order


def test_cells_are_escaped_and_cut_at_a_word_end():
    assert escape_cell("a | b\nc\r\n<br /><br/>d <BR> e") == r"a \| b c d e"
    assert escape_cell("*bold* _it_ `code` [x] \\ <i>&") == r"\*bold\* \_it\_ \`code\` \[x\] \\ &lt;i&gt;&amp;"
    cut = escape_cell("word " * 100, limit=22)
    assert cut == "word word word word…"
    assert escape_cell("x" * 40, limit=10) == "x" * 10 + "…"


def rendered_rows(markdown: str) -> list[list[str]]:
    """The cells of every table row, split at the unescaped pipes only."""
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    assert all(line.endswith("|") for line in rows)
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in rows]


def test_the_document_holds_one_complete_line_per_error_with_escaped_text():
    y = np.array([0, 1, 0, 1])
    prob = np.array([0.97, 0.02, 0.3, 0.8])
    texts = ["so | bad\nreally", "loved it " * 80, "fine", "fine"]
    reviews = Ragged.from_lists([[i] for i in range(4)])
    markdown = errors_markdown(y, prob, 0.5, reviews, lambda ids: texts[int(ids[0])])
    assert "2 of 4 test reviews are misclassified" in markdown
    rows = rendered_rows(markdown)
    assert [len(row) for row in rows] == [5] * 6  # two heads, two rules, one row per table: nothing split
    assert rows[2] == ["1", "0", "negative (0)", "0.970000", r"so \| bad really"]
    assert rows[5][:4] == ["1", "1", "positive (1)", "0.020000"] and rows[5][4].endswith("…")
    assert len(rows[5][4]) < 310
    none_wrong = errors_markdown(y, np.array([0.1, 0.9, 0.2, 0.7]), 0.5, reviews, lambda ids: "")
    assert none_wrong.count("None.") == 2


def test_error_table_reads_the_test_reviews_and_word_index_the_config_names(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "imdb_word_index.json").write_text(json.dumps(WORD_INDEX))
    test = Split(Ragged.from_lists([[1, 4, 5, 6, 7], [1, 4, 5, 6, 8, 2]]), np.array([0, 1], dtype=np.int8))
    save_sequences({"train": test, "test": test}, 9, tmp_path / "sequences.npz")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = validate(
            compose(
                config_name="config",
                overrides=[
                    f"paths.sequences={tmp_path / 'sequences.npz'}",
                    f"paths.raw_dir={tmp_path / 'raw'}",
                    "data.num_words=9",
                    "compare.variants=[base_1layer]",
                ],
            )
        )
    markdown = error_table(cfg, np.array([0.0, 1.0]), np.array([0.9, 0.1]))
    assert "| 0 | negative (0) | 0.900000 | the film was great |" in markdown
    assert "| 1 | positive (1) | 0.100000 | the film was dull ? |" in markdown
    with pytest.raises(DataError, match="test labels differ"):
        error_table(cfg, np.array([1.0, 1.0]), np.array([0.9, 0.1]))
