"""Training batches straight from the cached CSR matrices, never densified.

Batches are gathered from the CSR rows inside ``tf.data`` (a ragged gather per batch of shuffled row ids) and
handed to Keras as ``tf.SparseTensor``: the same batches whether ``trainer.fast_path`` is on or off. Kept apart
from the trainer because the rows are made once a stage and shared by every seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

PREFETCH_BATCHES = 2  # batches prepared ahead on tf.data's thread


@dataclass(frozen=True)
class CsrRows:
    """Multi-hot CSR rows and their labels as TF constants: made once a stage, shared by every seed."""

    columns: tf.RaggedTensor  # each row's column ids
    labels: tf.Tensor
    width: int

    @classmethod
    def from_csr(cls, x: sp.csr_matrix, y: np.ndarray) -> CsrRows:
        if x.dtype != np.float32:
            raise TypeError(f"features must be float32, got {x.dtype}")
        if not np.all(x.data == 1):
            raise ValueError("features must be multi-hot (every stored value 1)")
        # int32 as scipy stores them (half the memory of int64, no converted copy); row splits grow to int64
        # only past 2**31 non-zeros
        splits_dtype = np.int32 if x.nnz < np.iinfo(np.int32).max else np.int64
        columns = tf.RaggedTensor.from_row_splits(
            tf.constant(x.indices.astype(np.int32, copy=False)),
            tf.constant(x.indptr.astype(splits_dtype, copy=False)),
            validate=False,
        )
        return cls(columns, tf.constant(np.asarray(y, dtype=np.float32).reshape(-1, 1)), x.shape[1])

    @property
    def rows(self) -> int:
        return int(self.labels.shape[0])


def sparse_batches(data: CsrRows, batch_size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    """Batches of (SparseTensor, labels) gathered from CSR rows; reshuffled every epoch like ``fit``."""

    def gather(row_ids):
        batch = tf.gather(data.columns, row_ids).to_sparse()  # values are the column ids
        indices = tf.stack([batch.indices[:, 0], tf.cast(batch.values, tf.int64)], axis=1)
        shape = tf.stack([tf.shape(row_ids, out_type=tf.int64)[0], tf.constant(data.width, tf.int64)])
        ones = tf.ones_like(batch.values, dtype=tf.float32)
        return tf.SparseTensor(indices, ones, shape), tf.gather(data.labels, row_ids)

    dataset = tf.data.Dataset.range(data.rows)
    if not shuffle:  # the same batches every epoch (validation): gather them once
        return dataset.batch(batch_size).map(gather).cache().prefetch(PREFETCH_BATCHES)
    dataset = dataset.shuffle(data.rows, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).map(gather).prefetch(PREFETCH_BATCHES)
