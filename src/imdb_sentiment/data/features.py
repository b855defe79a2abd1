"""Multi-hot encoding of the review sequences as float32 CSR matrices: words, then bigrams if configured.

The original notebook filled a dense float64 25,000 x 10,000 array with a Python loop.
Here the token rows already are a CSR structure: ``(ones, tokens, offsets)`` is a CSR matrix with repeated
columns, and summing the duplicates then resetting the values to 1 gives the same multi-hot matrix. The
``features.bigrams`` columns (:mod:`imdb_sentiment.data.bigrams`) follow the ``num_words`` word columns.
"""

from __future__ import annotations

import json
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from imdb_sentiment.data.bigrams import BigramVocabulary, bigram_rows, count_vocabulary, trigram_rows
from imdb_sentiment.data.manifest import MANIFEST, Manifest, combined_digest, split_digest
from imdb_sentiment.data.ratios import RATIOS, load_ratios, log_count_ratios, save_ratios
from imdb_sentiment.data.sequences import SPLITS, Ragged, Split
from imdb_sentiment.data.stats import build_stats
from imdb_sentiment.runtime.errors import UNREADABLE_ARCHIVE, DataError, unreadable
from imdb_sentiment.runtime.outputs import atomic_path, write_json

if TYPE_CHECKING:
    from imdb_sentiment.config.schema import Config, FeaturesConfig, TrainOn

LABELS = "labels.npz"
BIGRAMS = "bigrams.npz"  # the bigram vocabulary, written even when empty so every reader finds one


def multi_hot(
    sequences: Ragged, num_words: int, dtype: str = "float32", overwrite_tokens: bool = False
) -> sp.csr_matrix:
    """Rows of token ids -> a CSR matrix with 1 in every column a row mentions.

    The duplicates are merged as booleans (a quarter of float32's memory) and cast once they are gone.
    ``overwrite_tokens`` lets scipy sort the caller's token array in place instead of a copy: the vectorize
    stage reads its sequences no more, and holds one split's tokens less at its peak."""
    if len(sequences.tokens) and (sequences.tokens.min() < 0 or sequences.tokens.max() >= num_words):
        raise DataError(f"token ids outside [0, {num_words}): the sequences do not match data.num_words")
    index_dtype = np.int32 if len(sequences.tokens) < np.iinfo(np.int32).max else np.int64
    tokens = (np.asarray if overwrite_tokens else np.array)(sequences.tokens, dtype=index_dtype)
    matrix = sp.csr_matrix(
        (np.ones(len(tokens), dtype=bool), tokens, np.array(sequences.offsets, dtype=index_dtype)),
        shape=(sequences.rows, num_words),
    )
    matrix.sum_duplicates()  # sorts each row's columns and merges repeats, in scipy's C++ code
    return matrix.astype(dtype, copy=False)


def feature_matrix(
    sequences: Ragged,
    num_words: int,
    vocabulary: BigramVocabulary,
    first_word: int,
    dtype: str = "float32",
    overwrite_tokens: bool = False,
) -> sp.csr_matrix:
    """The word columns, then the vocabulary's bigram columns and its trigram columns: what training, predict
    and serving all use."""
    if vocabulary.size == 0:
        return multi_hot(sequences, num_words, dtype, overwrite_tokens)
    rows = sequences  # each following step makes a new token array: it is ours to overwrite
    if len(vocabulary.pairs):
        rows = rows.followed_by(bigram_rows(sequences, vocabulary, first_word), num_words)
    if len(vocabulary.triples):
        rows = rows.followed_by(trigram_rows(sequences, vocabulary, first_word), num_words + len(vocabulary.pairs))
    return multi_hot(rows, num_words + vocabulary.size, dtype, True)


def feature_splits(
    splits: dict[str, Split],
    num_words: int,
    vocabulary: BigramVocabulary,
    first_word: int,
    dtype: str,
    overwrite_tokens: bool = False,
) -> dict[str, sp.csr_matrix]:
    """Every split at once: scipy's sparse kernels and numpy's gathers release the GIL, so two threads use
    both cores."""

    def build(split: Split) -> sp.csr_matrix:
        return feature_matrix(split.sequences, num_words, vocabulary, first_word, dtype, overwrite_tokens)

    with ThreadPoolExecutor(max_workers=len(splits)) as pool:
        return dict(zip(splits, pool.map(build, splits.values()), strict=True))


def time_and_memory(started: float) -> dict[str, float]:
    """Seconds since ``started`` and the process's peak resident memory so far (Linux reports KiB)."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": round(time.perf_counter() - started, 3), "peak_rss_mb": round(peak_kib / 1024, 1)}


def ratio_rows(train_rows: int, settings: FeaturesConfig) -> dict[str, slice]:
    """The training rows each set of naive-Bayes ratios is fitted on: the partial-train rows (after the validation
    rows, which come first) and all of them; none when ``features.nb_scaling`` is off."""
    if not settings.nb_scaling:
        return {}
    return {"partial": slice(settings.validation_rows, train_rows), "full": slice(0, train_rows)}


def fitted_ratios(train: sp.csr_matrix, labels: np.ndarray, settings: FeaturesConfig) -> dict[str, np.ndarray]:
    """The naive-Bayes ratios by the rows they are fitted on (:func:`ratio_rows`, :mod:`imdb_sentiment.data.ratios`)."""
    rows = ratio_rows(train.shape[0], settings)
    return {name: log_count_ratios(train[part], labels[part], settings.nb_alpha) for name, part in rows.items()}


def vectorize(
    splits: dict[str, Split], num_words: int, settings: FeaturesConfig, first_word: int, out_dir: Path, stats_path: Path
) -> Manifest:
    """The vectorize stage: the bigram vocabulary (training split only), CSR matrices, labels, the naive-Bayes
    ratios if configured, a manifest with the content digest, and stats (with this call's seconds and the
    process's peak memory). It consumes ``splits``: their token arrays are left sorted within each row."""
    started = time.perf_counter()
    vocabulary = count_vocabulary(splits["train"].sequences, num_words, first_word, settings.bigrams, settings.trigrams)
    matrices = feature_splits(splits, num_words, vocabulary, first_word, settings.dtype.value, overwrite_tokens=True)
    labels = {name: splits[name].labels.astype(np.float32) for name in SPLITS}
    digests = {name: split_digest(matrices[name], labels[name]) for name in SPLITS}
    manifest = Manifest(
        num_words=num_words,
        bigrams=settings.bigrams,
        width=num_words + vocabulary.size,
        dtype=settings.dtype.value,
        rows={name: int(matrices[name].shape[0]) for name in SPLITS},
        validation_rows=settings.validation_rows,
        split_digests=digests,
        digest=combined_digest(digests),
        nb_alpha=settings.nb_alpha if settings.nb_scaling else None,
        trigrams=settings.trigrams,
    )
    manifest.check(num_words, settings.validation_rows, settings.bigrams, manifest.nb_alpha, settings.trigrams)
    vocabulary.save(out_dir / BIGRAMS)
    save_ratios(out_dir / RATIOS, fitted_ratios(matrices["train"], labels["train"], settings))
    for name in SPLITS:
        with atomic_path(out_dir / f"x_{name}.npz") as tmp, open(tmp, "wb") as handle:
            sp.save_npz(handle, matrices[name], compressed=False)
    with atomic_path(out_dir / LABELS) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **{f"y_{name}": labels[name] for name in SPLITS})
    stats = build_stats(matrices, labels, settings.validation_rows)
    stats.update(
        words=num_words,
        bigrams=len(vocabulary.pairs),
        trigrams=len(vocabulary.triples),
        nb_scaling=settings.nb_scaling,
        # how many training rows each set of ratios counts: the page's evidence that validation rows never do
        nb_ratio_rows={
            name: part.stop - part.start for name, part in ratio_rows(len(labels["train"]), settings).items()
        },
        vectorize=time_and_memory(started),
    )
    write_json(stats_path, stats)
    write_json(out_dir / MANIFEST, asdict(manifest))  # written last: its presence means the rest is complete
    return manifest


@dataclass
class Features:
    """The vectorized data as later stages use it, with the seed's validation split applied.

    Only the splits a stage asked for are loaded (training never holds the test matrix in memory).
    """

    manifest: Manifest
    matrices: dict[str, sp.csr_matrix]
    labels: dict[str, np.ndarray]
    ratios: dict[str, np.ndarray]  # the naive-Bayes ratios by the rows fitted on ("partial", "full"); {}: unscaled

    @property
    def validation(self) -> tuple[sp.csr_matrix, np.ndarray]:
        n = self.manifest.validation_rows
        return self.matrices["train"][:n], self.labels["train"][:n]

    @property
    def partial_train(self) -> tuple[sp.csr_matrix, np.ndarray]:
        n = self.manifest.validation_rows
        return self.matrices["train"][n:], self.labels["train"][n:]

    @property
    def full_train(self) -> tuple[sp.csr_matrix, np.ndarray]:
        return self.matrices["train"], self.labels["train"]

    def training_rows(self, train_on: TrainOn) -> tuple[sp.csr_matrix, np.ndarray]:
        """The rows a protocol retrains on: the 15,000 after the validation rows, or all 25,000."""
        return self.full_train if train_on.value == "full" else self.partial_train

    def column_scale(self, train_on: TrainOn) -> np.ndarray | None:
        """What a model trained on :meth:`training_rows` multiplies its input columns by (fitted on exactly
        those rows), or None for plain multi-hot features."""
        return self.ratios.get(train_on.value)

    @property
    def test(self) -> tuple[sp.csr_matrix, np.ndarray]:
        return self.matrices["test"], self.labels["test"]


def load_features(
    out_dir: Path,
    num_words: int,
    validation_rows: int,
    splits: tuple[str, ...] = SPLITS,
    bigrams: int = 0,
    nb_alpha: float | None = None,
    trigrams: int = 0,
) -> Features:
    """Load ``splits`` and check them against the config (``nb_alpha`` None: features not scaled) and their
    content digests; never unpickles."""
    manifest_path = out_dir / MANIFEST
    if not manifest_path.is_file():
        raise DataError(f"{manifest_path} is missing: run the vectorize stage first (dvc repro vectorize)")
    try:
        manifest = Manifest(**json.loads(manifest_path.read_text()))
    except (ValueError, TypeError) as exc:
        raise DataError(f"{manifest_path}: unreadable manifest ({exc}); re-run the vectorize stage") from exc
    manifest.check(num_words, validation_rows, bigrams, nb_alpha, trigrams)
    matrices, labels = {}, {}
    for name in splits:
        for path in (out_dir / f"x_{name}.npz", out_dir / LABELS):
            try:
                if path.name == LABELS:
                    with np.load(path, allow_pickle=False) as archive:
                        labels[name] = archive[f"y_{name}"]
                else:
                    matrices[name] = sp.load_npz(path).tocsr()
            except UNREADABLE_ARCHIVE as exc:
                raise unreadable(path, exc, str(out_dir), "vectorize") from exc
        shape = (manifest.rows[name], manifest.width)
        if matrices[name].shape != shape or len(labels[name]) != shape[0]:
            raise DataError(f"{out_dir}/x_{name}.npz has shape {matrices[name].shape}, manifest says {shape}")
        if split_digest(matrices[name], labels[name]) != manifest.split_digests[name]:
            raise DataError(
                f"{out_dir}: the {name} split's content digest differs from the manifest; re-run the vectorize stage"
            )
    ratios = load_ratios(out_dir / RATIOS) if nb_alpha is not None else {}
    for name, values in ratios.items():
        if values.shape != (manifest.width,):
            raise DataError(f"{out_dir}/{RATIOS}: the {name} ratios have shape {values.shape}, not ({manifest.width},)")
    return Features(manifest, matrices, labels, ratios)


def load_configured_features(cfg: Config, splits: tuple[str, ...]) -> Features:
    """``splits`` of the features the config's paths, data and features groups name (train and retrain_final)."""
    f = cfg.features
    nb_alpha = f.nb_alpha if f.nb_scaling else None
    processed = Path(cfg.paths.processed_dir)
    return load_features(processed, cfg.data.num_words, f.validation_rows, splits, f.bigrams, nb_alpha, f.trigrams)
