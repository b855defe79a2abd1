"""Prediction input and the predict command: reviews read one per line with their line numbers, bounded in size
and memory, checked models, and each review printed with its score."""

from __future__ import annotations

import json
import tarfile

import pytest
from helpers.config import from_yaml
from helpers.project import REAL_MIRROR
from helpers.text import SETTINGS, WORDS, tiny_keras_model

from imdb_sentiment.config.schema import PredictOutput
from imdb_sentiment.data.text import ReviewEncoder
from imdb_sentiment.runtime.errors import DataError
from imdb_sentiment.serve.review_input import read_reviews


def test_read_reviews_refuses_empty_and_oversized_input(tmp_path):
    with pytest.raises(DataError, match="exactly one"):
        read_reviews(None, None, 10, 100)
    with pytest.raises(DataError, match="text is empty"):
        read_reviews("   \t", None, 10, 100)
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("\n  \n\t\n")
    with pytest.raises(DataError, match="has no review"):
        read_reviews(None, str(reviews), 10, 100)
    reviews.write_bytes(b"caf\xe9 latte\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_reviews(None, str(reviews), 10, 100)
    reviews.write_text("a\n" * 11)
    with pytest.raises(DataError, match="max_reviews"):
        read_reviews(None, str(reviews), 10, 100)
    with pytest.raises(DataError, match="max_review_chars"):
        read_reviews("x" * 101, None, 10, 100)
    reviews.write_text("short\n" + "x" * 101 + "\n")
    with pytest.raises(DataError, match="line 2 of .* has 101 characters"):
        read_reviews(None, str(reviews), 10, 100)  # the file is within the size bound, line 2 is not
    reviews.write_text("good film\nbad film\n")
    assert read_reviews(None, str(reviews), 10, 100) == [(1, "good film"), (2, "bad film")]
    assert read_reviews("one review", None, 10, 100) == [(1, "one review")]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.txt", "no such file"),
        ("folder", "is a folder; give a text file"),
        ("/dev/zero", "is not a regular file"),
        ("empty.txt", "is empty; give one review per line"),
    ],
)
def test_each_thing_file_may_name_that_is_not_a_file_of_reviews_gets_its_own_message(tmp_path, name, message):
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.txt").write_text("")
    file = name if name.startswith("/") else str(tmp_path / name)
    with pytest.raises(DataError, match=f"^file={file} {message}" if "no such" not in message else message):
        read_reviews(None, file, 10, 100)


# Characters str.splitlines() also breaks on; a review may contain any of them.
LINE_BREAKING_CHARACTERS = ["\x85", "\u2028", "\u2029", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\r"]


def test_file_reviews_end_only_at_newline_and_keep_their_line_numbers(tmp_path):
    """One review per line means lines end at \\n (optionally \\r\\n): Unicode separators stay inside."""
    lines = [f"review {i}: good{char}film" for i, char in enumerate(LINE_BREAKING_CHARACTERS)]
    reviews = tmp_path / "reviews.txt"
    reviews.write_bytes("\r\n".join(lines[:3]).encode() + b"\n" + "\n".join(lines[3:]).encode() + b"\n")
    assert read_reviews(None, str(reviews), 100, 100) == list(enumerate(lines, start=1))


def test_blank_lines_are_skipped_counted_and_keep_later_line_numbers(tmp_path, caplog):
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("good film\n\n  \t\nbad film\n\x0c\nlast one")
    with caplog.at_level("WARNING"):
        assert read_reviews(None, str(reviews), 10, 100) == [(1, "good film"), (4, "bad film"), (6, "last one")]
    assert [r.getMessage() for r in caplog.records] == [f"file={reviews}: skipped blank lines: 3 (lines 2, 3, 5)"]


@pytest.mark.slow
@pytest.mark.skipif(not (REAL_MIRROR / "aclImdb_v1_labelled_text.tar.gz").exists(), reason="no real mirror")
def test_real_reviews_with_unicode_line_separators_stay_one_review_each(tmp_path):
    """Hundreds of real IMDB reviews contain U+0085 (NEL): written one per line, each is read back whole."""
    with tarfile.open(REAL_MIRROR / "aclImdb_v1_labelled_text.tar.gz") as archive:
        texts = [archive.extractfile(m).read().decode("utf-8") for m in archive if m.name.endswith(".txt")]
    with_nel = [text for text in texts if "\x85" in text]
    assert len(with_nel) >= 100 and not any("\n" in text for text in with_nel)
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("\n".join(with_nel) + "\n", encoding="utf-8")
    assert read_reviews(None, str(reviews), len(with_nel), 100_000) == list(enumerate(with_nel, start=1))


def test_large_inputs_are_scored_in_bounded_memory(tmp_path):
    import resource

    encoder = ReviewEncoder(WORDS, SETTINGS)
    huge = "the film was just brilliant " * 360_000  # ~10 MB, one review
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    matrix = encoder.encode([text for _, text in read_reviews(huge, None, 10, 11_000_000)])
    assert matrix.shape == (1, 1000) and matrix.nnz == 6  # start + 5 distinct words
    many = tmp_path / "many.txt"
    many.write_text("a brilliant film\n" * 100_000)
    reviews = [text for _, text in read_reviews(None, str(many), 100_000, 1000)]
    assert len(reviews) == 100_000 and encoder.encode(reviews).shape == (100_000, 1000)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 400


def test_a_corrupt_fallback_model_is_a_clear_error(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from imdb_sentiment.serve.predict import load_champion

    (tmp_path / "models" / "final").mkdir(parents=True)
    (tmp_path / "models" / "final" / "model.keras").write_bytes(b"not a keras file")
    monkeypatch.chdir(tmp_path)
    cfg = SimpleNamespace(
        model_uri=None,
        final=from_yaml("final"),
        paths=from_yaml("paths", final_models=str(tmp_path / "models" / "final")),
        tracking=from_yaml("tracking", uri=f"sqlite:///{tmp_path / 'mlflow.db'}"),
    )
    with pytest.raises(DataError, match="model.keras cannot be loaded"):
        load_champion(cfg)


def predict_file(tmp_path, monkeypatch, text: str, output: str = "table") -> list:
    """The predict command on a file of ``text``, with a tiny model over the test vocabulary as the champion."""
    from types import SimpleNamespace

    from imdb_sentiment.serve import predict

    (tmp_path / "imdb_word_index.json").write_text(json.dumps(WORDS))
    reviews = tmp_path / "reviews.txt"
    reviews.write_text(text)
    data = from_yaml("data", base_url="-", num_words=SETTINGS.num_words)
    cfg = SimpleNamespace(
        text=None,
        file=str(reviews),
        max_reviews=10,
        max_review_chars=100,
        min_known_share=0.5,
        data=data,
        features=from_yaml("features"),
        paths=SimpleNamespace(raw_dir=str(tmp_path)),
        final=from_yaml("final"),
        output=PredictOutput(output),
    )
    champion = (tiny_keras_model(data.num_words), predict.configured_encoder(cfg), "tiny")
    monkeypatch.setattr(predict, "load_champion", lambda cfg: champion)
    return predict.predict_reviews(cfg)


def test_predict_command_prints_and_returns_each_review_with_its_line(tmp_path, monkeypatch, capsys):
    results = predict_file(
        tmp_path, monkeypatch, "the film\x85was just brilliant\n\ndon't\u2028casting\t\x0cthe film\r\n  \nrare film\n"
    )
    assert [(line, label, review) for line, _, label, _, review in results] == [
        (1, int(results[0][1] >= 0.5), "the film\x85was just brilliant"),
        (3, int(results[1][1] >= 0.5), "don't\u2028casting\t\x0cthe film"),
        (5, int(results[2][1] >= 0.5), "rare film"),
    ]
    printed = capsys.readouterr().out.split("\n")
    assert printed[:2] == ["# model: tiny", "line\tprobability\tlabel\tknown_words\treview"] and printed[5:] == [""]
    for row, (line, probability, label, share, review) in zip(printed[2:5], results, strict=True):
        assert row.split("\t") == [
            str(line),
            f"{probability:.4f}",
            ("negative", "positive")[label],
            f"{share:.0%}",
            " ".join(review.split()),
        ]


def test_a_model_file_of_another_width_than_the_configured_features_names_both(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from imdb_sentiment.serve.predict import load_champion

    (tmp_path / "imdb_word_index.json").write_text(json.dumps(WORDS))
    path = tmp_path / "wide.keras"
    tiny_keras_model(SETTINGS.num_words + 5).save(path)
    cfg = SimpleNamespace(
        model_uri=str(path),
        data=from_yaml("data", base_url="-", num_words=SETTINGS.num_words),
        features=from_yaml("features"),
        paths=SimpleNamespace(raw_dir=str(tmp_path), processed_dir=str(tmp_path)),
    )
    expected = f"wide.keras takes {SETTINGS.num_words + 5} columns but features=multihot makes {SETTINGS.num_words}"
    with pytest.raises(DataError, match=expected):
        load_champion(cfg)


def test_a_review_with_no_word_the_model_knows_gets_no_score_but_a_note(tmp_path, monkeypatch, capsys, caplog):
    """A line of NUL bytes or of unknown words encodes as the start token alone: its "score" would be the
    model's bias, so it is shown as not scored, and said so."""
    results = predict_file(tmp_path, monkeypatch, "the film was brilliant\n" + "\0" * 20 + "\nzyxxy qwerty\n")
    assert results[0][1] is not None and [r[1:3] for r in results[1:]] == [(None, None), (None, None)]
    rows = capsys.readouterr().out.split("\n")[3:5]
    assert [row.split("\t")[1:3] for row in rows] == [["-", "no known word"], ["-", "no known word"]]
    assert "not scored, no word of the model's vocabulary in them: 2 review(s), line(s) 2, 3" in caplog.text


def test_a_review_of_mostly_unknown_words_is_scored_with_the_share_it_rests_on(tmp_path, monkeypatch, capsys, caplog):
    """Another language still gets its score (from the few words it shares with the reviews), with the share of
    known words in the table and a warning; "rare" lies past num_words, so it counts as unknown."""
    results = predict_file(tmp_path, monkeypatch, "the film was brilliant\nle film était magnifique\nrare film\n")
    assert [(r[0], r[3]) for r in results] == [(1, 1.0), (2, 0.25), (3, 0.5)]
    assert all(r[1] is not None for r in results)  # every one scored
    rows = capsys.readouterr().out.split("\n")[2:5]
    assert [row.split("\t")[3] for row in rows] == ["100%", "25%", "50%"]
    assert "scored on few words: under 50% of the words are known to the model in 1 review(s), line(s) 2" in caplog.text
    assert "(known: 25%)" in caplog.text


def test_json_output_carries_each_score_label_and_known_share_with_its_warning(tmp_path, monkeypatch, capsys):
    results = predict_file(tmp_path, monkeypatch, "the film was brilliant\nle film était magnifique\nzyxxy\n", "json")
    printed = json.loads(capsys.readouterr().out)
    assert printed["model"] == "tiny" and printed["threshold"] == 0.5 and printed["min_known_share"] == 0.5
    assert [(r["line"], r["known_words"], r["warning"]) for r in printed["reviews"]] == [
        (1, 1.0, None),
        (2, 0.25, "few known words"),
        (3, 0.0, "no known word"),
    ]
    first = printed["reviews"][0]
    assert first["probability"] == pytest.approx(results[0][1]) and first["label"] == results[0][2]
    assert first["sentiment"] == ("negative", "positive")[first["label"]]
    assert printed["reviews"][2]["probability"] is None and printed["reviews"][2]["label"] is None


def test_the_encoder_counts_known_words_as_it_encodes():
    encoder = ReviewEncoder(WORDS, SETTINGS)
    encoded, shares = encoder.encode_counted(["the film", "rare", "", "zyxxy the"])
    assert shares.tolist() == [1.0, 0.0, 0.0, 0.5]
    assert (encoded != encoder.encode(["the film", "rare", "", "zyxxy the"])).nnz == 0


def test_file_dash_reads_the_reviews_from_standard_input(monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("a fine film\n\nsé dull\u2028plot\n".encode())))
    assert read_reviews(None, "-", 10, 100) == [(1, "a fine film"), (3, "sé dull\u2028plot")]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    with pytest.raises(DataError, match=r"file=- \(standard input\) is empty"):
        read_reviews(None, "-", 10, 100)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"x" * 50)))
    with pytest.raises(DataError, match="larger than predict.max_reviews x predict.max_review_chars"):
        read_reviews(None, "-", 2, 10)
