"""The vectorize stage equals the notebook's vectorize_sequences, sparse, float32, checked on load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from helpers.project import fixture_overrides, run_stage, vectorized_project
from hypothesis import given, settings
from hypothesis import strategies as st

from imdb_sentiment.data.features import load_features, multi_hot
from imdb_sentiment.data.sequences import Ragged, load_sequences
from imdb_sentiment.runtime.errors import DataError


def vectorize_sequences(sequences, dimension=10000):
    """The original notebook's function, verbatim."""
    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.0
    return results


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.integers(0, 49), max_size=30), min_size=1, max_size=25))
def test_multi_hot_equals_the_notebook(rows):
    matrix = multi_hot(Ragged.from_lists(rows), 50)
    assert matrix.dtype == np.float32 and sp.isspmatrix_csr(matrix)
    np.testing.assert_array_equal(matrix.toarray(), vectorize_sequences(rows, 50))
    assert matrix.has_canonical_format


def test_out_of_vocabulary_ids_are_refused():
    with pytest.raises(DataError, match="num_words"):
        multi_hot(Ragged.from_lists([[1, 2, 50]]), 50)


@pytest.fixture
def vectorized(tmp_path, keras_mirror):
    return vectorized_project(tmp_path / "project", keras_mirror)[0]


def test_vectorize_stage_matches_notebook_on_the_fixture(vectorized):
    splits, num_words = load_sequences(vectorized / "data/interim/sequences.npz")
    features = load_features(vectorized / "data/processed", num_words=30, validation_rows=16)
    for name, matrix in features.matrices.items():
        rows = [splits[name].sequences.row(i) for i in range(splits[name].sequences.rows)]
        np.testing.assert_array_equal(matrix.toarray(), vectorize_sequences(rows, 30))
        assert matrix.dtype == np.float32
    x_val, y_val = features.validation
    x_part, y_part = features.partial_train
    assert x_val.shape == (16, 30) and x_part.shape == (32, 30)
    np.testing.assert_array_equal(y_val, splits["train"].labels[:16])
    stats = json.loads((vectorized / "reports/data/stats.json").read_text())
    assert stats["train"]["rows"] == 48 and stats["vocabulary"] == 30
    assert stats["split"] == {"validation_rows": 16, "partial_train_rows": 32}
    assert stats["train"]["positive"] + stats["train"]["negative"] == 48


def test_features_built_for_another_vocabulary_are_refused(vectorized):
    with pytest.raises(DataError, match="num_words=30, config says 10000"):
        load_features(vectorized / "data/processed", num_words=10000, validation_rows=16)
    with pytest.raises(DataError, match="validation_rows=16, config says 8"):
        load_features(vectorized / "data/processed", num_words=30, validation_rows=8)


def test_only_the_requested_splits_are_loaded(vectorized):
    features = load_features(vectorized / "data/processed", num_words=30, validation_rows=16, splits=("train",))
    assert list(features.matrices) == ["train"]


def test_tampered_features_are_refused(vectorized):
    processed = vectorized / "data/processed"
    matrix = sp.load_npz(processed / "x_test.npz")
    matrix.data[0] = 0.0
    with open(processed / "x_test.npz", "wb") as handle:
        sp.save_npz(handle, matrix)
    with pytest.raises(DataError, match="test split's content digest"):
        load_features(processed, num_words=30, validation_rows=16)


def damage(path: Path, how: str) -> None:
    """A file cut in half, or a run of random bytes written over its middle."""
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        middle = len(data) // 2
        data[middle : middle + 64] = np.random.default_rng(0).bytes(64)
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "overwritten"])
@pytest.mark.parametrize("name", ["x_train.npz", "x_test.npz", "labels.npz"])
def test_corrupt_feature_files_name_the_file_and_both_remedies(vectorized, name, how):
    processed = vectorized / "data/processed"
    damage(processed / name, how)
    with pytest.raises(DataError) as error:
        load_features(processed, num_words=30, validation_rows=16)
    message = str(error.value)
    assert message.startswith(f"{processed / name} is corrupt or truncated") or "content digest" in message
    if "content digest" not in message:  # random bytes in a stored (uncompressed) member: the digest catches it
        assert f"`dvc checkout {processed}`" in message and "`dvc repro vectorize`" in message


def test_a_stage_reading_a_truncated_feature_file_fails_in_one_line(vectorized, keras_mirror):
    damage(vectorized / "data/processed/x_train.npz", "truncated")
    result = run_stage(vectorized, "train", "model=linear", *fixture_overrides(keras_mirror), check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in result.stderr
    assert "x_train.npz is corrupt or truncated" in result.stderr


def test_vectorize_refuses_sequences_of_another_vocabulary(vectorized, keras_mirror):
    result = run_stage(vectorized, "vectorize", *fixture_overrides(keras_mirror, num_words=40), check=False)
    assert result.returncode == 2
    assert "num_words=30" in result.stderr and "dvc repro fetch" in result.stderr


def test_multi_hot_leaves_its_input_rows_as_they_were():
    """scipy's sum_duplicates sorts the column ids in place: on the caller's token array, the bigrams built
    after the words would pair sorted ids, not neighbours."""
    rows = Ragged.from_lists([[5, 3, 9, 3], [8, 1]])
    tokens, offsets = rows.tokens.copy(), rows.offsets.copy()
    multi_hot(rows, 10)
    np.testing.assert_array_equal(rows.tokens, tokens)
    np.testing.assert_array_equal(rows.offsets, offsets)


def test_overwriting_the_tokens_gives_the_same_matrix_and_uses_them_as_the_workspace():
    """The vectorize stage's own sequences are consumed (``overwrite_tokens``): the same matrix, and scipy
    works in the caller's token array instead of a copy of it."""
    rows = Ragged.from_lists([[5, 3, 9, 3], [8, 1], [], [2, 2, 2]])
    original = rows.tokens.copy()
    copied = multi_hot(rows, 10)
    np.testing.assert_array_equal(rows.tokens, original)
    overwritten = multi_hot(rows, 10, overwrite_tokens=True)
    assert (copied != overwritten).nnz == 0 and overwritten.dtype == np.float32 and overwritten.has_sorted_indices
    assert not np.array_equal(rows.tokens, original)  # no copy was made
