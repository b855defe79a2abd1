"""The fetch stage: trusted bytes only, Keras's exact decoding, clear failures, nothing half-written."""

from __future__ import annotations

import functools
import http.server
import pickle
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from helpers.config import from_yaml
from helpers.project import REAL_MIRROR, TESTS, fixture_overrides, free_port, run_stage, sha256
from hypothesis import given, settings
from hypothesis import strategies as st

from imdb_sentiment.config.schema import DataConfig
from imdb_sentiment.data.fetch import fetch, load_trusted_npz
from imdb_sentiment.data.sequences import Ragged, load_sequences
from imdb_sentiment.runtime.errors import DataError

KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def data_config(source: Path | None, num_words: int = 30, **changes) -> DataConfig:
    """A data config reading from ``source`` and trusting its files; ``changes`` override any key."""
    trusted = {"npz_sha256": [], "word_index_sha256": []}
    if source is not None:
        trusted = {
            "npz_sha256": [sha256(source / "imdb.npz")],
            "word_index_sha256": [sha256(source / "imdb_word_index.json")],
        }
    return from_yaml(
        "data",
        **{
            "base_url": KERAS_URL,
            "mirror": str(source) if source else None,
            "num_words": num_words,
            "retries": 0,
            "timeout_s": 5,
            **trusted,
            **changes,
        },
    )


def keras_reference(npz: Path, monkeypatch, **kwargs):
    """Keras's own load_data, with its download pointed at our file."""
    from keras.src.datasets import imdb as keras_imdb

    monkeypatch.setattr(keras_imdb, "get_file", lambda *a, **k: str(npz))
    return keras_imdb.load_data(**kwargs)


@pytest.mark.parametrize("num_words", [4, 30, 100])
def test_decoding_equals_keras_load_data(keras_mirror, tmp_path, monkeypatch, num_words):
    cfg = data_config(keras_mirror, num_words=num_words)
    splits = fetch(cfg, tmp_path / "raw", tmp_path / "sequences.npz")
    (x_train, y_train), (x_test, y_test) = keras_reference(keras_mirror / "imdb.npz", monkeypatch, num_words=num_words)
    for split, xs, ys in (("train", x_train, y_train), ("test", x_test, y_test)):
        ours = splits[split]
        assert ours.sequences.rows == len(xs)
        for i, expected in enumerate(xs):
            assert ours.sequences.row(i).tolist() == list(expected)
        assert ours.labels.tolist() == ys.tolist()
    reloaded, stored_num_words = load_sequences(tmp_path / "sequences.npz")
    assert stored_num_words == num_words
    np.testing.assert_array_equal(reloaded["test"].sequences.tokens, splits["test"].sequences.tokens)


def test_files_from_the_mirror_are_verified_copies(keras_mirror, tmp_path):
    fetch(data_config(keras_mirror), tmp_path / "raw", tmp_path / "seq.npz")
    for name in ("imdb.npz", "imdb_word_index.json"):
        assert (tmp_path / "raw" / name).read_bytes() == (keras_mirror / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["imdb.npz", "imdb_word_index.json"]


def test_untrusted_digest_is_refused_with_both_digests_and_nothing_is_left(keras_mirror, tmp_path):
    cfg = data_config(keras_mirror, npz_sha256=["0" * 64])
    with pytest.raises(DataError) as info:
        fetch(cfg, tmp_path / "raw", tmp_path / "seq.npz")
    message = str(info.value)
    assert sha256(keras_mirror / "imdb.npz") in message and "0" * 64 in message
    assert "data.npz_sha256" in message
    assert list((tmp_path / "raw").iterdir()) == []
    assert not (tmp_path / "seq.npz").exists()


def test_truncated_file_is_refused(keras_mirror, tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(keras_mirror, mirror)
    trusted = sha256(mirror / "imdb.npz")
    data = (mirror / "imdb.npz").read_bytes()
    (mirror / "imdb.npz").write_bytes(data[: len(data) // 2])
    cfg = data_config(mirror, npz_sha256=[trusted])
    with pytest.raises(DataError, match="not trusted"):
        fetch(cfg, tmp_path / "raw", tmp_path / "seq.npz")
    assert not (tmp_path / "raw" / "imdb.npz").exists()


class _Exploit:
    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def malicious_npz(folder: Path, marker: Path) -> Path:
    """A Keras-looking npz whose pickle would create ``marker`` if it were ever unpickled freely."""
    folder.mkdir(parents=True, exist_ok=True)
    exploit = _Exploit()
    exploit.marker = str(marker)
    x = np.empty(2, dtype=object)
    x[0], x[1] = [1, 2], exploit
    np.savez(folder / "imdb.npz", x_train=x, y_train=np.zeros(2), x_test=x, y_test=np.zeros(2))
    shutil.copy(TESTS / "conftest.py", folder / "imdb_word_index.json")
    return folder


def test_untrusted_pickle_is_never_loaded(tmp_path):
    marker = tmp_path / "pwned"
    mirror = malicious_npz(tmp_path / "evil", marker)
    cfg = data_config(
        None, mirror=str(mirror), word_index_sha256=[sha256(mirror / "imdb_word_index.json")], npz_sha256=["1" * 64]
    )
    with pytest.raises(DataError, match="not trusted"):
        fetch(cfg, tmp_path / "raw", tmp_path / "seq.npz")
    assert not marker.exists()


def test_even_a_trusted_file_may_only_rebuild_numpy_arrays(tmp_path):
    marker = tmp_path / "pwned"
    mirror = malicious_npz(tmp_path / "evil", marker)
    cfg = data_config(mirror)
    with pytest.raises(DataError, match="refusing to load"):
        load_trusted_npz(mirror / "imdb.npz", cfg)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):  # the guard is ours: numpy itself would run it
        import io  # noqa: E401
        import zipfile

        from imdb_sentiment.data.fetch import _read_npy  # noqa: F401

        _read_npy(io.BytesIO(zipfile.ZipFile(mirror / "imdb.npz").read("x_train.npy")))
    assert not marker.exists()


def test_offline_without_a_mirror_names_imdb_mirror(tmp_path):
    cfg = data_config(
        None, base_url=f"http://127.0.0.1:{free_port()}/", npz_sha256=["0" * 64], word_index_sha256=["0" * 64]
    )
    with pytest.raises(DataError, match="IMDB_MIRROR"):
        fetch(cfg, tmp_path / "raw", tmp_path / "seq.npz")
    assert list((tmp_path / "raw").iterdir()) == []


def test_missing_mirror_file_is_named(tmp_path):
    cfg = data_config(None, mirror=str(tmp_path), npz_sha256=["0" * 64], word_index_sha256=["0" * 64])
    with pytest.raises(DataError, match="has no imdb.npz"):
        fetch(cfg, tmp_path / "raw", tmp_path / "seq.npz")


@pytest.fixture
def http_mirror(keras_mirror):
    """Serve the fixture over HTTP on 127.0.0.1, as the Keras bucket would be served."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(keras_mirror))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_path_fetches_verifies_and_decodes(keras_mirror, http_mirror, tmp_path):
    cfg = data_config(keras_mirror, mirror=None, base_url=http_mirror)
    splits = fetch(cfg, tmp_path / "raw", tmp_path / "seq.npz")
    assert (tmp_path / "raw" / "imdb.npz").read_bytes() == (keras_mirror / "imdb.npz").read_bytes()
    assert splits["train"].sequences.rows == 48


def test_fetch_stage_end_to_end(project, keras_mirror):
    run_stage(project, "fetch", *fixture_overrides(keras_mirror))
    splits, num_words = load_sequences(project / "data/interim/sequences.npz")
    assert num_words == 30 and splits["train"].sequences.rows == 48
    with np.load(project / "data/interim/sequences.npz", allow_pickle=False) as archive:
        assert all(archive[key].dtype != object for key in archive.files)


def test_fetch_stage_bad_digest_is_one_line_and_exit_2(project, keras_mirror):
    overrides = fixture_overrides(keras_mirror)
    overrides[1] = f"data.npz_sha256=[{'a' * 64}]"
    result = run_stage(project, "fetch", *overrides, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: imdb.npz: sha256 ")
    assert not (project / "data/raw/imdb.npz").exists()


rows = st.lists(st.lists(st.integers(0, 1000), max_size=12), min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(rows=rows, data=st.data())
def test_ragged_take_and_prepend_match_python_lists(rows, data):
    ragged = Ragged.from_lists(rows)
    order = data.draw(st.permutations(range(len(rows))))
    taken = ragged.take(np.array(order, dtype=np.int64)).prepend(-1)
    assert [taken.row(i).tolist() for i in range(taken.rows)] == [[-1] + rows[j] for j in order]


@pytest.mark.slow
@pytest.mark.skipif(not (REAL_MIRROR / "imdb.npz").exists(), reason="real IMDB mirror not present")
def test_real_mirror_decodes_to_the_published_sequences(tmp_path, monkeypatch):
    from helpers.project import CONF_DIR
    from hydra import compose, initialize_config_dir

    from imdb_sentiment.config.schema import validate

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = validate(compose(config_name="config", overrides=[f"data.mirror={REAL_MIRROR}"]))
    splits = fetch(cfg.data, tmp_path / "raw", tmp_path / "seq.npz")
    first = splits["train"].sequences.row(0)
    assert first[:10].tolist() == [1, 14, 22, 16, 43, 530, 973, 1622, 1385, 65]
    assert len(first) == 218 and splits["train"].labels[0] == 1
    assert splits["train"].labels[:10].tolist() == [1, 0, 0, 1, 0, 0, 1, 0, 1, 0]
    for split in splits.values():
        assert split.sequences.tokens.max() == 9999
        assert int(split.labels.sum()) == 12500 and len(split.labels) == 25000
    (x_train, _), (x_test, _) = keras_reference(REAL_MIRROR / "imdb.npz", monkeypatch, num_words=10000)
    for i in (0, 1, 12345, 24999):
        assert splits["train"].sequences.row(i).tolist() == list(x_train[i])
        assert splits["test"].sequences.row(i).tolist() == list(x_test[i])
