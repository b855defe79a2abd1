"""The bigram vocabulary and columns: counted on the training split only, deterministic, equal to a plain
Python count, and the same rows whether they come from the vectorize stage's sequences or from raw text."""

from __future__ import annotations

import json
import tarfile
from collections import Counter

import numpy as np
import pytest
from helpers.config import from_yaml
from helpers.project import REAL_MIRROR, run_stage, vectorized_project
from helpers.text import real_keras_arrays
from hypothesis import given, settings
from hypothesis import strategies as st

from imdb_sentiment.data.bigrams import BigramVocabulary, bigram_rows, count_vocabulary, most_frequent
from imdb_sentiment.data.features import BIGRAMS, feature_matrix, load_features
from imdb_sentiment.data.ratios import log_count_ratios
from imdb_sentiment.data.sequences import Ragged, load_sequences
from imdb_sentiment.data.text import EncoderSettings, ReviewEncoder
from imdb_sentiment.model.networks import fold_column_scale

FIRST_WORD = 3  # ids below are padding, start and OOV
rows_of_ids = st.lists(st.lists(st.integers(0, 11), max_size=12), min_size=1, max_size=20)


def plain_counts(rows: list[list[int]]) -> Counter:
    """Adjacent word pairs inside each row, counted the obvious way."""
    return Counter(
        (a, b) for row in rows for a, b in zip(row, row[1:], strict=False) if a >= FIRST_WORD and b >= FIRST_WORD
    )


def plain_top(counts: Counter, size: int) -> list[tuple[int, int]]:
    """The ``size`` most frequent pairs, ties to the smaller pair, listed in pair order."""
    return sorted(sorted(counts, key=lambda pair: (-counts[pair], pair))[:size])


@settings(max_examples=150, deadline=None)
@given(rows_of_ids, st.integers(0, 30))
def test_the_vocabulary_is_the_plain_count_of_word_pairs_inside_reviews(rows, size):
    vocabulary = count_vocabulary(Ragged.from_lists(rows), 12, FIRST_WORD, size)
    counts = plain_counts(rows)
    assert [tuple(pair) for pair in vocabulary.pairs.tolist()] == plain_top(counts, size)
    assert vocabulary.counts.tolist() == [counts[pair] for pair in plain_top(counts, size)]


@settings(max_examples=150, deadline=None)
@given(rows_of_ids, rows_of_ids)
def test_bigram_rows_list_each_rows_known_pairs_in_order(train, other):
    vocabulary = count_vocabulary(Ragged.from_lists(train), 12, FIRST_WORD, 8)
    column = {tuple(pair): k for k, pair in enumerate(vocabulary.pairs.tolist())}
    found = bigram_rows(Ragged.from_lists(other), vocabulary, FIRST_WORD)
    assert found.rows == len(other)
    for i, row in enumerate(other):
        pairs = zip(row, row[1:], strict=False)
        assert found.row(i).tolist() == [column[pair] for pair in pairs if pair in column]


@settings(max_examples=150, deadline=None)
@given(rows_of_ids, rows_of_ids)
def test_the_feature_matrix_is_each_rows_words_then_its_known_pairs_past_the_word_columns(train, other):
    vocabulary = count_vocabulary(Ragged.from_lists(train), 12, FIRST_WORD, 8)
    matrix = feature_matrix(Ragged.from_lists(other), 12, vocabulary, FIRST_WORD)
    column = {tuple(pair): k for k, pair in enumerate(vocabulary.pairs.tolist())}
    expected = np.zeros((len(other), 12 + vocabulary.size), dtype=np.float32)
    for i, row in enumerate(other):
        expected[i, row] = 1
        for pair in zip(row, row[1:], strict=False):
            if pair in column:
                expected[i, 12 + column[pair]] = 1
    np.testing.assert_array_equal(matrix.toarray(), expected)
    assert matrix.has_canonical_format and matrix.dtype == np.float32


def test_rank_lookup_finds_every_vocabulary_code_and_misses_the_rest():
    rng = np.random.default_rng(0)
    num_words = 300
    codes = np.unique(rng.integers(0, num_words**2, 500))
    vocabulary = BigramVocabulary(
        np.stack([codes // num_words, codes % num_words], 1).astype(np.int32), np.ones(len(codes)), num_words
    )
    probe = rng.integers(0, num_words**2, 20_000)
    expected = np.where(np.isin(probe, codes), np.searchsorted(codes, probe), -1)
    np.testing.assert_array_equal(vocabulary.columns(probe.astype(np.int64)), expected)
    np.testing.assert_array_equal(vocabulary.columns(codes.astype(np.int64)), np.arange(len(codes)))


def test_ties_go_to_the_smaller_code_and_the_result_is_in_code_order():
    np.testing.assert_array_equal(most_frequent(np.array([1, 5, 3, 5, 3, 3]), 4), [1, 2, 3, 4])
    np.testing.assert_array_equal(most_frequent(np.array([2, 2, 2]), 2), [0, 1])
    np.testing.assert_array_equal(most_frequent(np.array([2, 1]), 5), [0, 1])


def test_the_vocabulary_does_not_depend_on_row_order_and_round_trips(tmp_path):
    rows = [[1, 5, 6, 7], [1, 6, 7, 5, 6], [1, 9, 9, 9]]
    first = count_vocabulary(Ragged.from_lists(rows), 12, FIRST_WORD, 3)
    again = count_vocabulary(Ragged.from_lists(rows[::-1]), 12, FIRST_WORD, 3)
    np.testing.assert_array_equal(first.pairs, again.pairs)
    first.save(tmp_path / BIGRAMS)
    loaded = BigramVocabulary.load(tmp_path / BIGRAMS)
    np.testing.assert_array_equal(loaded.pairs, first.pairs)
    assert loaded.num_words == 12 and loaded.counts.tolist() == first.counts.tolist()


@pytest.fixture
def bigram_project(tmp_path, keras_mirror):
    return vectorized_project(tmp_path / "project", keras_mirror, bigrams=40)


def test_the_vectorize_stage_counts_bigrams_on_the_training_split_only(bigram_project, keras_mirror):
    project, overrides = bigram_project
    splits, num_words = load_sequences(project / "data/interim/sequences.npz")
    vocabulary = BigramVocabulary.load(project / "data/processed" / BIGRAMS)
    assert 0 < vocabulary.size <= 40
    train_pairs = plain_counts([splits["train"].sequences.row(i).tolist() for i in range(48)])
    assert [tuple(pair) for pair in vocabulary.pairs.tolist()] == plain_top(train_pairs, 40)
    features = load_features(project / "data/processed", num_words, 16, bigrams=40)
    for name, split in splits.items():
        expected = feature_matrix(split.sequences, num_words, vocabulary, FIRST_WORD)
        assert (features.matrices[name] != expected).nnz == 0 and features.matrices[name].shape[1] == 30 + 40
    stats = json.loads((project / "reports/data/stats.json").read_text())
    assert stats["bigrams"] == vocabulary.size and stats["vectorize"]["seconds"] > 0
    with pytest.raises(Exception, match="features.bigrams=40, config says 0"):
        load_features(project / "data/processed", num_words, 16, bigrams=0)
    run_stage(project, "vectorize", *overrides)  # again: the same vocabulary and the same content digests
    np.testing.assert_array_equal(BigramVocabulary.load(project / "data/processed" / BIGRAMS).pairs, vocabulary.pairs)
    assert load_features(project / "data/processed", num_words, 16, bigrams=40).manifest == features.manifest


def test_the_vectorize_stage_adds_the_training_splits_trigrams_after_the_bigrams(tmp_path, keras_mirror):
    project, _ = vectorized_project(tmp_path / "project", keras_mirror, bigrams=20, trigrams=15)
    splits, num_words = load_sequences(project / "data/interim/sequences.npz")
    vocabulary = BigramVocabulary.load(project / "data/processed" / BIGRAMS)
    train_rows = [splits["train"].sequences.row(i).tolist() for i in range(48)]
    counts = plain_triples(train_rows)
    top = sorted(sorted(counts, key=lambda triple: (-counts[triple], triple))[:15])
    assert [tuple(t) for t in vocabulary.triples.tolist()] == top and len(vocabulary.pairs) == 20
    features = load_features(project / "data/processed", num_words, 16, bigrams=20, trigrams=15)
    for name, split in splits.items():
        expected = feature_matrix(split.sequences, num_words, vocabulary, FIRST_WORD)
        assert (features.matrices[name] != expected).nnz == 0 and features.matrices[name].shape[1] == 30 + 20 + 15
    assert features.matrices["train"][:, 50:].nnz > 0
    with pytest.raises(Exception, match="features.trigrams=15, config says 0"):
        load_features(project / "data/processed", num_words, 16, bigrams=20)


def test_raw_text_encodes_to_the_rows_the_sequences_give():
    words = {"the": 1, "film": 2, "was": 3, "just": 4, "brilliant": 5, "dull": 6}
    settings = EncoderSettings(num_words=10, index_from=3, start_char=1, oov_char=2)
    texts = ["The film was just brilliant.", "dull, dull film; the film was dull", "brilliant just was"]
    ids = [
        [1] + [words[w] + 3 for w in text.lower().replace(".", "").replace(",", "").replace(";", "").split()]
        for text in texts
    ]
    vocabulary = count_vocabulary(Ragged.from_lists(ids[:2]), 10, 3, 4, trigrams=3)  # "training": the first two
    assert len(vocabulary.triples) == 3
    encoder = ReviewEncoder(words, settings, vocabulary)
    expected = feature_matrix(Ragged.from_lists(ids), 10, vocabulary, 3)
    assert (encoder.encode(texts) != expected).nnz == 0 and encoder.width == 10 + vocabulary.size
    assert expected[0, 10 + len(vocabulary.pairs) :].nnz > 0  # "the film was" is a known triple
    assert expected[2, 10:].nnz == 0  # the reversed review shares no pair or triple with the training rows


@pytest.mark.slow
@pytest.mark.skipif(not (REAL_MIRROR / "aclImdb_v1_labelled_text.tar.gz").exists(), reason="no real mirror")
def test_real_raw_test_reviews_score_as_their_vectorized_rows(tmp_path):
    """Raw test reviews through the predict/serving encoder, and the same reviews' rows as the vectorize stage
    builds them (50,000 bigrams of the real training split), give the same probabilities under one model; and
    a model trained on those rows scaled by the training split's naive-Bayes ratios, saved with them folded
    into its kernel, scores the raw text as it scored the scaled rows."""
    arrays = real_keras_arrays()
    settings = EncoderSettings(num_words=10000, index_from=3, start_char=1, oov_char=2)

    def ids(ranks) -> list[int]:
        return [1] + [r + 3 if r + 3 < 10000 else 2 for r in ranks]

    train = Ragged.from_lists([ids(ranks) for ranks in arrays["x_train"]])
    vocabulary = count_vocabulary(train, 10000, 3, 50000)
    sources = (REAL_MIRROR / "imdb_npz_row_sources.tsv").read_text().split("\n")[1:]
    wanted = {
        path: int(row)
        for split, row, _, path in (line.split("\t") for line in sources if line)
        if split == "test" and int(row) % 499 == 0
    }
    texts, rows = {}, {}
    with tarfile.open(REAL_MIRROR / "aclImdb_v1_labelled_text.tar.gz") as archive:
        for member in archive:
            if member.name in wanted:
                texts[member.name] = archive.extractfile(member).read().decode("utf-8")
                rows[member.name] = ids(arrays["x_test"][wanted[member.name]])
    names = sorted(texts)
    assert len(names) == len(wanted) >= 50
    word_index = json.loads((REAL_MIRROR / "imdb_word_index.json").read_text())
    from_text = ReviewEncoder(word_index, settings, vocabulary).encode([texts[n] for n in names])
    from_rows = feature_matrix(Ragged.from_lists([rows[n] for n in names]), 10000, vocabulary, 3)
    assert (from_text != from_rows).nnz == 0 and from_rows[:, 10000:].nnz > 0
    weights = np.random.default_rng(0).normal(size=from_rows.shape[1]).astype(np.float32)
    np.testing.assert_array_equal(1 / (1 + np.exp(-(from_text @ weights))), 1 / (1 + np.exp(-(from_rows @ weights))))
    ratios = log_count_ratios(feature_matrix(train, 10000, vocabulary, 3), arrays["y_train"], alpha=1.0)
    scaled_rows = from_rows.multiply(ratios).tocsr()  # what training sees
    folded = fold_column_scale(keras_model(weights), ratios).get_weights()[0].reshape(-1)  # what is saved
    np.testing.assert_allclose(from_text @ folded, scaled_rows @ weights, rtol=1e-5, atol=1e-5)


def keras_model(kernel: np.ndarray):
    """A logistic regression over ``kernel``'s columns, as the linear variant is saved."""
    import keras

    from imdb_sentiment.model.networks import build_model

    cfg = from_yaml("model", name="m", hidden_layers=0, units=1)
    model = build_model(cfg, len(kernel), sparse=False)
    model.set_weights([kernel.reshape(-1, 1), np.zeros(1, np.float32)])
    assert isinstance(model, keras.Model)
    return model


def plain_triples(rows: list[list[int]]) -> Counter:
    """Runs of three words inside each row, counted the obvious way."""
    return Counter(
        (a, b, c) for row in rows for a, b, c in zip(row, row[1:], row[2:], strict=False) if min(a, b, c) >= FIRST_WORD
    )


@settings(max_examples=150, deadline=None)
@given(rows_of_ids, st.integers(0, 30))
def test_the_trigram_vocabulary_is_the_plain_count_of_word_triples_inside_reviews(rows, size):
    vocabulary = count_vocabulary(Ragged.from_lists(rows), 12, FIRST_WORD, 0, trigrams=size)
    counts = plain_triples(rows)
    top = sorted(sorted(counts, key=lambda triple: (-counts[triple], triple))[:size])
    assert [tuple(triple) for triple in vocabulary.triples.tolist()] == top
    assert vocabulary.triple_counts.tolist() == [counts[triple] for triple in top]
    assert len(vocabulary.pairs) == 0 and vocabulary.size == len(top)


@settings(max_examples=150, deadline=None)
@given(rows_of_ids, rows_of_ids)
def test_the_feature_matrix_puts_each_rows_known_triples_after_its_pairs(train, other):
    vocabulary = count_vocabulary(Ragged.from_lists(train), 12, FIRST_WORD, 5, trigrams=6)
    matrix = feature_matrix(Ragged.from_lists(other), 12, vocabulary, FIRST_WORD)
    pair_column = {tuple(pair): 12 + k for k, pair in enumerate(vocabulary.pairs.tolist())}
    first_triple = 12 + len(vocabulary.pairs)
    triple_column = {tuple(triple): first_triple + k for k, triple in enumerate(vocabulary.triples.tolist())}
    expected = np.zeros((len(other), 12 + vocabulary.size), dtype=np.float32)
    for i, row in enumerate(other):
        expected[i, row] = 1
        for pair in zip(row, row[1:], strict=False):
            if pair in pair_column:
                expected[i, pair_column[pair]] = 1
        for triple in zip(row, row[1:], row[2:], strict=False):
            if triple in triple_column:
                expected[i, triple_column[triple]] = 1
    np.testing.assert_array_equal(matrix.toarray(), expected)
    assert matrix.has_canonical_format


def test_triple_lookup_finds_every_vocabulary_code_and_misses_the_rest():
    rng = np.random.default_rng(1)
    num_words = 300
    codes = np.unique(rng.integers(0, num_words**3, 500))
    triples = np.stack([codes // num_words**2, codes // num_words % num_words, codes % num_words], 1)
    vocabulary = BigramVocabulary.empty(num_words)
    vocabulary.triples = triples.astype(np.int32)
    np.testing.assert_array_equal(vocabulary.triple_codes, codes)
    probe = np.concatenate([rng.integers(0, num_words**3, 20_000), codes])
    expected = np.where(np.isin(probe, codes), np.searchsorted(codes, probe), -1)
    np.testing.assert_array_equal(vocabulary.triple_columns(probe.astype(np.int64)), expected)


def test_triples_round_trip_and_an_archive_from_before_them_loads_without(tmp_path):
    rows = [[1, 5, 6, 7, 5, 6, 7], [1, 6, 7, 5, 6], [1, 9, 9, 9, 9]]
    vocabulary = count_vocabulary(Ragged.from_lists(rows), 12, FIRST_WORD, 3, trigrams=2)
    assert [tuple(t) for t in vocabulary.triples.tolist()] == [(5, 6, 7), (6, 7, 5)]  # 2 each: ties to the smaller
    vocabulary.save(tmp_path / BIGRAMS)
    loaded = BigramVocabulary.load(tmp_path / BIGRAMS)
    np.testing.assert_array_equal(loaded.triples, vocabulary.triples)
    assert loaded.triple_counts.tolist() == [2, 2] and loaded.size == vocabulary.size
    np.savez(tmp_path / "old.npz", pairs=vocabulary.pairs, counts=vocabulary.counts, num_words=np.int64(12))
    old = BigramVocabulary.load(tmp_path / "old.npz")
    assert old.triples.shape == (0, 3) and old.size == len(vocabulary.pairs)
