"""Naive-Bayes log-count ratios: Wang & Manning's formula, fitted on the training rows only, checked on load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from helpers.config import from_yaml
from helpers.project import vectorized_project

from imdb_sentiment.config.schema import TrainOn
from imdb_sentiment.data.features import fitted_ratios, load_features
from imdb_sentiment.data.ratios import RATIOS, load_ratios, log_count_ratios
from imdb_sentiment.runtime.errors import DataError


def test_ratios_follow_wang_and_manning():
    x = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1], [0, 0, 1]], dtype=np.float32))
    y = np.array([1, 1, 0, 0])
    p = 1.0 + np.array([2, 1, 0])  # alpha + the positive rows' column counts
    q = 1.0 + np.array([0, 1, 2])
    expected = np.log((p / p.sum()) / (q / q.sum()))
    np.testing.assert_allclose(log_count_ratios(x, y, alpha=1.0), expected, rtol=1e-6)
    assert log_count_ratios(x, y, 1.0).dtype == np.float32
    assert log_count_ratios(x, y, 1.0)[1] == pytest.approx(0.0, abs=1e-7)  # a word both classes use alike


def test_ratios_need_both_classes():
    with pytest.raises(DataError, match="both classes"):
        log_count_ratios(sp.csr_matrix(np.ones((3, 2), np.float32)), np.ones(3), 1.0)


def test_the_compared_ratios_never_see_a_validation_row():
    """Changing every validation row (its words and its label) leaves the partial-train ratios as they were;
    the ratios of all training rows, which the final model retrains on, do change."""
    rng = np.random.default_rng(0)
    x = sp.random(60, 25, density=0.3, format="csr", dtype=np.float32, random_state=1)
    x.data[:] = 1
    y = rng.integers(0, 2, 60).astype(np.float32)
    settings = from_yaml("features", validation_rows=20, nb_scaling=True, nb_alpha=1.0)
    before = fitted_ratios(x, y, settings)
    changed_x = sp.vstack([sp.csr_matrix(np.ones((20, 25), np.float32)), x[20:]]).tocsr()
    changed_y = np.concatenate([np.ones(20, np.float32), y[20:]])
    after = fitted_ratios(changed_x, changed_y, settings)
    np.testing.assert_array_equal(after["partial"], before["partial"])
    np.testing.assert_array_equal(before["partial"], log_count_ratios(x[20:], y[20:], 1.0))
    assert not np.allclose(after["full"], before["full"])
    assert fitted_ratios(x, y, from_yaml("features", validation_rows=20, nb_scaling=False, nb_alpha=1.0)) == {}


@pytest.fixture(scope="module")
def scaled(tmp_path_factory, keras_mirror):
    project, _ = vectorized_project(tmp_path_factory.mktemp("nb") / "project", keras_mirror, bigrams=40, nb_alpha=0.5)
    return project / "data/processed"


def test_the_vectorize_stage_writes_both_sets_beside_the_vocabulary(scaled):
    features = load_features(scaled, num_words=30, validation_rows=16, splits=("train",), bigrams=40, nb_alpha=0.5)
    x, y = features.matrices["train"], features.labels["train"]
    assert (scaled / "bigrams.npz").is_file() and set(load_ratios(scaled / RATIOS)) == {"partial", "full"}
    np.testing.assert_array_equal(features.column_scale(TrainOn.partial), log_count_ratios(x[16:], y[16:], 0.5))
    np.testing.assert_array_equal(features.column_scale(TrainOn.full), log_count_ratios(x, y, 0.5))
    assert features.column_scale(TrainOn.partial).shape == (features.manifest.width,)
    stats = json.loads((scaled.parents[1] / "reports/data/stats.json").read_text())  # what the results page shows
    assert stats["nb_ratio_rows"] == {"partial": len(y) - 16, "full": len(y)}


def test_features_scaled_otherwise_than_configured_are_refused(scaled):
    with pytest.raises(DataError, match=r"nb_alpha \(with features.nb_scaling\)=0.5, config says None"):
        load_features(scaled, num_words=30, validation_rows=16, bigrams=40)
    with pytest.raises(DataError, match="config says 1.0"):
        load_features(scaled, num_words=30, validation_rows=16, bigrams=40, nb_alpha=1.0)
