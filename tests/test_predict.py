"""The raw-text path: Keras's tokeniser, the word index, OOV rules, and input checks."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
from conftest import REAL_MIRROR
from hypothesis import given, settings
from hypothesis import strategies as st
from test_config import from_yaml

from imdb_sentiment.data.fetch import load_trusted_npz
from imdb_sentiment.data.text import EncoderSettings, ReviewEncoder, text_to_words
from imdb_sentiment.runtime.errors import DataError
from imdb_sentiment.serve.review_input import read_reviews

WORDS = {
    "the": 1,
    "and": 2,
    "a": 3,
    "film": 19,
    "this": 11,
    "was": 13,
    "just": 40,
    "brilliant": 527,
    "casting": 970,
    "don't": 89,
    "rare": 2500,
}
SETTINGS = EncoderSettings(num_words=1000, index_from=3, start_char=1, oov_char=2)


def test_text_to_words_follows_keras_filters():
    assert text_to_words("This film was JUST brilliant,casting!\tLocation\n<br />scenery") == [
        "this",
        "film",
        "was",
        "just",
        "brilliant",
        "casting",
        "location",
        "br",
        "scenery",
    ]
    assert text_to_words("don't   stop--now") == ["don't", "stop", "now"]
    assert text_to_words(" \t\n!!") == []


def test_ids_shift_ranks_map_rare_words_to_oov_and_skip_unknown_ones():
    encoder = ReviewEncoder(WORDS, SETTINGS)
    assert encoder.ids("This film was just brilliant, casting") == [1, 14, 22, 16, 43, 530, 973]
    assert encoder.ids("the RARE word zyxxy") == [1, 4, 2]  # rank 2500 >= num_words; "word", zyxxy unknown
    assert encoder.ids("") == [1]


def test_encode_gives_multi_hot_rows_within_the_vocabulary():
    encoder = ReviewEncoder(WORDS, SETTINGS)
    matrix = encoder.encode(["the the film", "zyxxy"])
    assert matrix.shape == (2, 1000) and matrix.dtype == np.float32
    assert sorted(matrix[0].indices.tolist()) == [1, 4, 22]
    assert sorted(matrix[1].indices.tolist()) == [1]  # zyxxy is not in the index: skipped, only the start


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


def real_keras_arrays() -> dict:
    """The real mirror's imdb.npz arrays (raw word ranks), read as the fetch stage reads them."""
    cfg = from_yaml(
        "data",
        base_url="-",
        npz_sha256=[
            "6814c0beea01878740d178d45caaf84fa878f5f452bd5f6bb6b5e3add8655f32",
            "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
        ],
    )
    return load_trusted_npz(REAL_MIRROR / "imdb.npz", cfg)


@pytest.mark.slow
@pytest.mark.skipif(not (REAL_MIRROR / "aclImdb_v1_labelled_text.tar.gz").exists(), reason="no real mirror")
def test_tokenising_raw_reviews_reproduces_the_keras_sequences():
    """The raw aclImdb texts, tokenised our way, give exactly the rank sequences in imdb.npz."""
    word_index = json.loads((REAL_MIRROR / "imdb_word_index.json").read_text())
    arrays = real_keras_arrays()
    rows = [line.split("\t") for line in (REAL_MIRROR / "imdb_npz_row_sources.tsv").read_text().splitlines()[1:]]
    wanted = {path: int(row) for split, row, _, path in rows if split == "train" and int(row) % 997 == 0}
    encoder = ReviewEncoder(word_index, EncoderSettings(num_words=10**9, index_from=0, start_char=0, oov_char=-1))
    checked = 0
    with tarfile.open(REAL_MIRROR / "aclImdb_v1_labelled_text.tar.gz") as archive:
        for member in archive:
            if member.name in wanted:
                text = archive.extractfile(member).read().decode("utf-8")
                assert encoder.ids(text)[1:] == list(arrays["x_train"][wanted[member.name]]), member.name
                checked += 1
    assert checked == len(wanted) >= 25


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_encoder_fuzz_ids_stay_in_the_vocabulary_and_are_deterministic(text):
    encoder = ReviewEncoder(WORDS, SETTINGS)
    ids = encoder.ids(text)
    assert ids[0] == SETTINGS.start_char
    assert all(0 <= i < SETTINGS.num_words for i in ids)
    assert ids == encoder.ids(text)
    matrix = encoder.encode([text])
    assert matrix.shape == (1, SETTINGS.num_words) and set(matrix.data.tolist()) == {1.0}


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


def test_non_english_words_are_skipped_as_words_the_index_lacks():
    encoder = ReviewEncoder(WORDS, SETTINGS)
    assert encoder.ids("Ein wunderbarer Film! 素晴らしい映画。") == [1, 22]  # "film" is English too
    assert encoder.ids("Überraschend GUT, the film") == [1, 4, 22]


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


def tiny_keras_model(num_words: int):
    """A one-layer sigmoid model on the dense multi-hot input, untrained: enough to score reviews."""
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((num_words,)), keras.layers.Dense(1, activation="sigmoid")])


def test_predict_command_prints_and_returns_each_review_with_its_line(tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace

    from imdb_sentiment.serve import predict

    (tmp_path / "imdb_word_index.json").write_text(json.dumps(WORDS))
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("the film\x85was just brilliant\n\ndon't\u2028casting\t\x0cthe film\r\n  \nrare\n")
    data = from_yaml("data", base_url="-", num_words=SETTINGS.num_words)
    cfg = SimpleNamespace(
        text=None,
        file=str(reviews),
        max_reviews=10,
        max_review_chars=100,
        data=data,
        features=from_yaml("features"),
        paths=SimpleNamespace(raw_dir=str(tmp_path)),
        final=from_yaml("final"),
    )
    champion = (tiny_keras_model(data.num_words), predict.configured_encoder(cfg), "tiny")
    monkeypatch.setattr(predict, "load_champion", lambda cfg: champion)
    results = predict.predict_reviews(cfg)
    assert [(line, label, review) for line, _, label, review in results] == [
        (1, int(results[0][1] >= 0.5), "the film\x85was just brilliant"),
        (3, int(results[1][1] >= 0.5), "don't\u2028casting\t\x0cthe film"),
        (5, int(results[2][1] >= 0.5), "rare"),
    ]
    printed = capsys.readouterr().out.split("\n")
    assert printed[:2] == ["# model: tiny", "line\tprobability\tlabel\treview"] and printed[5:] == [""]
    for row, (line, probability, label, review) in zip(printed[2:5], results, strict=True):
        assert row.split("\t") == [
            str(line),
            f"{probability:.4f}",
            ("negative", "positive")[label],
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
