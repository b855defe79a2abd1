"""The raw-text path: Keras's tokeniser, the word index and its OOV rules, the encoder fuzzed, and the real
reviews tokenised to exactly the rank sequences of the Keras data."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
from helpers.project import REAL_MIRROR
from helpers.text import SETTINGS, WORDS, real_keras_arrays
from hypothesis import given, settings
from hypothesis import strategies as st

from imdb_sentiment.data.text import EncoderSettings, ReviewEncoder, text_to_words


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


def test_non_english_words_are_skipped_as_words_the_index_lacks():
    encoder = ReviewEncoder(WORDS, SETTINGS)
    assert encoder.ids("Ein wunderbarer Film! 素晴らしい映画。") == [1, 22]  # "film" is English too
    assert encoder.ids("Überraschend GUT, the film") == [1, 4, 22]
