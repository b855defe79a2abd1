"""Fetch the Keras IMDB files, verify them, and decode them exactly as ``keras.datasets.imdb`` does.

The Keras ``imdb.npz`` holds pickled object arrays, so it is only unpickled after its sha256 matches a
digest the config trusts. The decoded sequences are written as plain integer arrays (flat tokens plus
row offsets, :mod:`imdb_sentiment.data.sequences`), so no later stage ever needs ``allow_pickle``.
"""

from __future__ import annotations

import io
import logging
import pickle
import shutil
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from imdb_sentiment.config.schema import DataConfig
from imdb_sentiment.data.sequences import SPLITS, Ragged, Split, save_sequences
from imdb_sentiment.runtime.errors import DataError
from imdb_sentiment.runtime.outputs import atomic_path, sha256_file

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- fetching


def verify_digest(path: Path, cfg: DataConfig, name: str) -> str:
    """Refuse a file whose sha256 the config does not trust, before anything parses it."""
    actual = sha256_file(path)
    key, trusted = cfg.trusted_digests(name)
    if actual not in trusted:
        raise DataError(
            f"{name}: sha256 {actual} is not trusted (trusted: {', '.join(trusted) or 'none'}); the file may "
            f"be truncated, corrupt or tampered with. If you trust it deliberately, add its digest to {key} "
            f"in conf/data/imdb.yaml"
        )
    return actual


def copy_from_mirror(mirror: Path, name: str, dest: Path) -> None:
    source = mirror / name
    if not source.is_file():
        raise DataError(f"IMDB_MIRROR={mirror} has no {name} (data.mirror must name a folder holding it)")
    shutil.copyfile(source, dest)


def download(url: str, dest: Path, timeout_s: float, retries: int) -> None:
    """Download with a timeout, a progress bar on a terminal, and a few retries with back-off."""
    from tqdm import tqdm

    last_error: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(2**attempt, 30))
            log.warning("retrying %s (attempt %d of %d): %s", url, attempt + 1, retries + 1, last_error)
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response, open(dest, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(
                    total=total, unit="B", unit_scale=True, desc=dest.name.split(".tmp")[0], disable=None, leave=False
                ) as bar:
                    while chunk := response.read(1 << 16):
                        out.write(chunk)
                        bar.update(len(chunk))
            return
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            last_error = exc
    raise DataError(
        f"cannot download {url}: {getattr(last_error, 'reason', last_error)}. Offline? Set IMDB_MIRROR to a "
        f"folder holding imdb.npz and imdb_word_index.json (e.g. IMDB_MIRROR=../shared/data/imdb)"
    )


def obtain(cfg: DataConfig, name: str, raw_dir: Path) -> Path:
    """Copy ``name`` from the mirror or download it; it appears in ``raw_dir`` only once verified."""
    target = raw_dir / name
    with atomic_path(target) as tmp:
        if cfg.mirror:
            copy_from_mirror(Path(cfg.mirror), name, tmp)
        else:
            download(cfg.base_url.rstrip("/") + "/" + name, tmp, cfg.timeout_s, cfg.retries)
        digest = verify_digest(tmp, cfg, name)
    log.info("%s: sha256 %s verified (%s)", name, digest, "mirror" if cfg.mirror else "download")
    return target


# ---------------------------------------------------------------------------------------------- decoding


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Defence in depth behind the digest check: the pickle may rebuild numpy arrays and nothing else."""

    ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def _read_npy(handle) -> np.ndarray:
    """Numeric arrays without pickle at all; object arrays through the restricted unpickler."""
    try:
        return np.lib.format.read_array(handle, allow_pickle=False)
    except ValueError:
        handle.seek(0)
        major, _ = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        read_header(handle)
        return _ArraysOnlyUnpickler(handle).load()


def load_trusted_npz(path: Path, cfg: DataConfig) -> dict[str, np.ndarray]:
    """Read the Keras npz, but only after checking its digest again (the file may have changed)."""
    verify_digest(path, cfg, cfg.npz_file)
    try:
        with zipfile.ZipFile(path) as archive:
            return {
                key: _read_npy(io.BytesIO(archive.read(f"{key}.npy")))
                for key in ("x_train", "y_train", "x_test", "y_test")
            }
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        raise DataError(f"{path}: not a Keras IMDB archive ({exc})") from exc


def decode_keras_imdb(arrays: dict[str, np.ndarray], cfg: DataConfig) -> dict[str, Split]:
    """Reproduce ``keras.datasets.imdb.load_data``: seeded shuffle, start char, index shift, OOV ids."""
    rng = np.random.RandomState(cfg.seed)  # one generator, train shuffled first, as Keras does
    splits: dict[str, Split] = {}
    for split in SPLITS:
        sequences = Ragged.from_lists(arrays[f"x_{split}"])
        order = np.arange(sequences.rows)
        rng.shuffle(order)
        sequences = sequences.take(order)
        sequences.tokens += cfg.index_from
        if cfg.start_char is not None:
            sequences = sequences.prepend(cfg.start_char)
        out_of_range = (sequences.tokens >= cfg.num_words) | (sequences.tokens < cfg.skip_top)
        sequences.tokens[out_of_range] = cfg.oov_char
        splits[split] = Split(sequences, np.asarray(arrays[f"y_{split}"])[order].astype(np.int8))
    return splits


def fetch(cfg: DataConfig, raw_dir: Path, sequences_path: Path) -> dict[str, Split]:
    """The fetch stage: obtain and verify both files, decode, and write the pickle-free sequences."""
    npz_path = obtain(cfg, cfg.npz_file, raw_dir)
    obtain(cfg, cfg.word_index_file, raw_dir)
    splits = decode_keras_imdb(load_trusted_npz(npz_path, cfg), cfg)
    save_sequences(splits, cfg.num_words, sequences_path)
    for name, split in splits.items():
        log.info(
            "%s: %d reviews, %d tokens, %d positive",
            name,
            split.sequences.rows,
            len(split.sequences.tokens),
            int(split.labels.sum()),
        )
    return splits
