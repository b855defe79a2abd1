"""Training rows straight from the cached CSR matrices, never densified.

:class:`CsrRows` holds a split's multi-hot rows and labels, checked once a stage and shared by every seed.
The speed layer (:mod:`imdb_sentiment.model.fast_path`) cuts its batches from the scipy matrix; the stock
Keras path (``trainer.fast_path: false``) gathers them inside ``tf.data`` (a ragged gather per batch of
shuffled row ids) and hands them to Keras as ``tf.SparseTensor``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

PREFETCH_BATCHES = 2  # batches prepared ahead on tf.data's thread


@dataclass(frozen=True)
class TfRows:
    columns: object  # tf.RaggedTensor: each row's column ids
    labels: object  # tf.Tensor (rows, 1)
    scale: object  # tf.Tensor (width,) of each column's value, ones for plain multi-hot rows


@dataclass(frozen=True)
class CsrRows:
    """Multi-hot CSR rows (float32) and their labels (float32): made once a stage, shared by every seed.

    ``scale`` (float32, one per column; None: all ones) is a fitted input transform, the naive-Bayes ratios of
    these rows (:mod:`imdb_sentiment.data.ratios`): a model trained on them sees column ``j`` as ``scale[j]``
    and is saved with the scale folded into its first kernel, so it then takes plain multi-hot rows."""

    x: sp.csr_matrix
    y: np.ndarray
    scale: np.ndarray | None = None

    @classmethod
    def from_csr(cls, x: sp.csr_matrix, y: np.ndarray, scale: np.ndarray | None = None) -> CsrRows:
        if x.dtype != np.float32:
            raise TypeError(f"features must be float32, got {x.dtype}")
        if not np.all(x.data == 1):
            raise ValueError("features must be multi-hot (every stored value 1)")
        if scale is not None and np.shape(scale) != (x.shape[1],):
            raise ValueError(f"a column scale must have one value per column ({x.shape[1]}), got {np.shape(scale)}")
        scale = None if scale is None else np.asarray(scale, dtype=np.float32)
        return cls(x, np.asarray(y, dtype=np.float32).reshape(-1), scale)

    def with_scale(self, scale: np.ndarray | None) -> CsrRows:
        """The same rows seen through another model's input scale (validation rows through the training rows')."""
        return CsrRows.from_csr(self.x, self.y, scale)

    @property
    def rows(self) -> int:
        return self.x.shape[0]

    @property
    def width(self) -> int:
        return self.x.shape[1]

    @cached_property
    def tensorflow(self) -> TfRows:
        """The rows as TF constants, for ``tf.data`` (the stock path only)."""
        import tensorflow as tf

        # int32 as scipy stores them; row splits grow to int64 only past 2**31 non-zeros
        splits_dtype = np.int32 if self.x.nnz < np.iinfo(np.int32).max else np.int64
        columns = tf.RaggedTensor.from_row_splits(
            tf.constant(self.x.indices.astype(np.int32, copy=False)),
            tf.constant(self.x.indptr.astype(splits_dtype, copy=False)),
            validate=False,
        )
        scale = np.ones(self.width, np.float32) if self.scale is None else self.scale
        return TfRows(columns, tf.constant(self.y.reshape(-1, 1)), tf.constant(scale))


def sparse_batches(rows: CsrRows, batch_size: int, shuffle: bool, seed: int):
    """A ``tf.data.Dataset`` of (SparseTensor, labels) gathered from CSR rows; reshuffled every epoch like ``fit``."""
    import tensorflow as tf

    data, width, count = rows.tensorflow, rows.width, rows.rows

    def gather(row_ids):
        batch = tf.gather(data.columns, row_ids).to_sparse()  # values are the column ids
        indices = tf.stack([batch.indices[:, 0], tf.cast(batch.values, tf.int64)], axis=1)
        shape = tf.stack([tf.shape(row_ids, out_type=tf.int64)[0], tf.constant(width, tf.int64)])
        values = tf.gather(data.scale, batch.values)  # 1 for multi-hot rows, the column's scale if scaled
        return tf.SparseTensor(indices, values, shape), tf.gather(data.labels, row_ids)

    if not shuffle:  # the same batches every epoch (validation): gather them once
        return tf.data.Dataset.range(count).batch(batch_size).map(gather).cache().prefetch(PREFETCH_BATCHES)
    orders = epoch_orders(count, seed)
    dataset = tf.data.Dataset.from_generator(  # called again each epoch: the next order
        lambda: iter([next(orders)]), output_signature=tf.TensorSpec((count,), tf.int64)
    )
    steps = tf.data.experimental.assert_cardinality(-(-count // batch_size))  # known: Keras counts the epoch's steps
    return dataset.unbatch().batch(batch_size).apply(steps).map(gather).prefetch(PREFETCH_BATCHES)


def epoch_orders(rows: int, seed: int):
    """Each epoch's order of the training rows, the same in the speed layer's loop and in Keras's ``fit``."""
    rng = np.random.default_rng(seed)
    while True:
        yield rng.permutation(rows)
