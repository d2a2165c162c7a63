"""Batches of reviews of similar length, each cut to its longest review ("bucketing").

A recurrent layer steps through every column of its input, padding included (the mask only
stops padding from changing the state; the steps still cost time). Reviews padded to a
common ``maxlen`` waste most of those steps on short reviews. Grouping reviews of similar
length into a batch and cutting the batch to its longest review removes almost all of that
padding: with ``maxlen=400`` the IMDB training reviews then cost about as many steps per
batch as with ``maxlen=200`` padded to full length.

Shapes: ``x`` is a padded int matrix (n, maxlen), best padded at the end of each row
(``data.pad_reviews(..., padding="post")``, the layout cuDNN needs too); ``y`` is (n,).
Each batch is ``(x_batch, y_batch)`` with ``x_batch`` (b, t), ``t`` = the longest review in
the batch (on JAX rounded up to a multiple of 32, see :mod:`attention_course.backend`).
"""

from __future__ import annotations

import keras
import numpy as np

from attention_course import backend
from attention_course.data import PAD

# Reviews are shuffled, cut into pools of this many batches, and sorted by length within a
# pool: batches hold similar lengths yet differ from epoch to epoch.
POOL_BATCHES = 50


def row_widths(x) -> np.ndarray:
    """Columns each row needs, shape (n,): one past its last real (non-zero) id, at least 1.

    For reviews padded at the end this is the review's length; cutting a row to its width
    drops only padding, wherever the padding is.
    """
    x = np.asarray(x)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(
            f"x must be a padded int matrix (n, maxlen), got shape {x.shape} dtype {x.dtype}"
        )
    real = x != PAD
    last = x.shape[1] - np.argmax(real[:, ::-1], axis=1)
    return np.where(real.any(axis=1), last, 1)


def bucket_batches(lengths, batch_size: int, rng: np.random.Generator | None = None):
    """Split review indices into batches of similar length.

    ``lengths`` (n,) are the reviews' lengths. Without ``rng`` the batches follow the sorted
    order (shortest first). With ``rng`` the reviews are shuffled, sorted by length within
    pools of :data:`POOL_BATCHES` batches, and the batches are shuffled. Returns a list of
    index arrays covering every review exactly once.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    lengths = np.asarray(lengths)
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    order = rng.permutation(len(lengths))
    pool = batch_size * POOL_BATCHES
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def bucket_width(widths, multiple: int = 1, limit: int | None = None) -> int:
    """The width (time steps) of a batch of rows of ``widths``: the longest, rounded up.

    ``multiple`` rounds up to a multiple (``backend.width_multiple()``: JAX compiles one
    program per shape), capped at ``limit`` (the padded matrix's ``maxlen``).
    """
    width = int(np.max(widths))
    width = -(-width // multiple) * multiple
    return width if limit is None else min(width, limit)


class LengthBuckets(keras.utils.PyDataset):
    """Batches ``(x_batch, y_batch)`` of similar-length reviews, for ``model.fit``.

    ``x`` (n, maxlen) padded ids, ``y`` (n,) labels. ``x_batch`` (b, t) int32 is cut to its
    longest review (rounded up to ``backend.width_multiple()``), ``y_batch`` (b,) float32.
    With ``shuffle`` the batches are drawn from ``seed`` and redrawn after every epoch
    (``on_epoch_end``, which Keras calls); without, they follow the sorted lengths. Pass it
    through :func:`attention_course.backend.fit_input` (what :func:`length_bucketed` does).
    """

    def __init__(self, x, y, batch_size: int, shuffle: bool = True, seed: int = 0):
        super().__init__()
        self.lengths = row_widths(x)
        self.x = np.asarray(x, dtype=np.int32)
        self.y = np.asarray(y, dtype=np.float32)
        if self.y.shape != (len(self.x),):
            raise ValueError(f"y must have shape ({len(self.x)},) to match x of shape "
                             f"{self.x.shape}, got {self.y.shape}")
        self.batch_size = batch_size
        self.multiple = backend.width_multiple()
        self.rng = np.random.default_rng(seed) if shuffle else None
        self.batches = bucket_batches(self.lengths, batch_size, self.rng)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        rows = self.batches[index]
        width = bucket_width(self.lengths[rows], self.multiple, self.x.shape[1])
        return self.x[rows, :width], self.y[rows]

    def on_epoch_end(self) -> None:
        if self.rng is not None:
            self.batches = bucket_batches(self.lengths, self.batch_size, self.rng)


def length_bucketed(x, y, batch_size: int, shuffle: bool = True, seed: int = 0):
    """Batches of similar-length reviews, in the form ``model.fit`` takes on this backend.

    A :class:`LengthBuckets` (a ``keras.utils.PyDataset``) on JAX and PyTorch, wrapped in a
    ``tf.data.Dataset`` on TensorFlow (:func:`attention_course.backend.fit_input`). Every
    epoch draws new batches when ``shuffle`` is True, reproducibly from ``seed``. Batches
    differ in width: pass the result to ``model.fit`` with ``shuffle=False``.
    """
    return backend.fit_input(LengthBuckets(x, y, batch_size, shuffle=shuffle, seed=seed))


def predict_by_length(model, x, batch_size: int = 256, per_position: bool = False):
    """``model``'s outputs for padded reviews ``x`` (n, maxlen), computed in length buckets.

    Reviews are sorted by length, run in batches cut to their longest review (through
    :func:`attention_course.backend.compiled_forward`, compiled once), and the outputs put
    back in the order of ``x``. By default the model outputs one number per review,
    (b, 1), and the result has shape (n,). With ``per_position`` it outputs one number per
    position, (b, t) (attention weights, say), and the result is zero-padded to (n, maxlen).
    """
    widths = row_widths(x)
    x = np.asarray(x, dtype=np.int32)
    forward = backend.compiled_forward(model)
    multiple = backend.width_multiple()
    shape = (len(x), x.shape[1]) if per_position else (len(x),)
    out = np.zeros(shape, dtype=np.float32)
    for index in bucket_batches(widths, batch_size):
        width = bucket_width(widths[index], multiple, x.shape[1])
        result = keras.ops.convert_to_numpy(forward(x[index, :width]))
        expected = (len(index), width) if per_position else (len(index), 1)
        if result.shape != expected:
            raise ValueError(
                f"for a batch of shape {(len(index), width)} the model should output shape "
                f"{expected} (per_position={per_position}), got {result.shape}"
            )
        if per_position:
            out[index, :width] = result
        else:
            out[index] = result[:, 0]
    return out



class PairBuckets(keras.utils.PyDataset):
    """Batches of similar-length sequence-to-sequence examples, for ``model.fit``.

    The counterpart of :class:`LengthBuckets` for an encoder–decoder: ``inputs`` is a tuple of
    padded int matrices with n rows each (the source (n, T_s) and the decoder's input
    (n, T_t)), ``targets`` a padded int matrix (n, T_t). Examples are grouped by the first
    input's length (:func:`bucket_batches`); each matrix of a batch is cut to its own widest
    row (rounded up to ``backend.width_multiple()``). A batch is ``(inputs_batch,
    targets_batch)`` with ``inputs_batch`` a tuple of int32 matrices. With ``shuffle`` the
    batches are drawn from ``seed`` and redrawn after every epoch. Pass it through
    :func:`attention_course.backend.fit_input` (what :func:`pair_bucketed` does).
    """

    def __init__(self, inputs, targets, batch_size: int, shuffle: bool = True,
                 seed: int = 0):
        super().__init__()
        if not isinstance(inputs, (tuple, list)) or not inputs:
            raise ValueError("inputs must be a non-empty tuple of padded int matrices")
        self.matrices = [np.asarray(m) for m in (*inputs, targets)]
        n = len(self.matrices[-1])
        for matrix in self.matrices:
            if matrix.ndim != 2 or len(matrix) != n or not np.issubdtype(matrix.dtype,
                                                                           np.integer):
                raise ValueError(f"inputs and targets must be int matrices with {n} rows "
                                 f"(the targets' rows), got shape {matrix.shape} dtype "
                                 f"{matrix.dtype}")
        self.matrices = [m.astype(np.int32) for m in self.matrices]
        self.widths = [row_widths(m) for m in self.matrices]
        self.batch_size = batch_size
        self.multiple = backend.width_multiple()
        self.rng = np.random.default_rng(seed) if shuffle else None
        self.batches = bucket_batches(self.widths[0], batch_size, self.rng)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        rows = self.batches[index]
        cut = [m[rows, :bucket_width(w[rows], self.multiple, m.shape[1])]
               for m, w in zip(self.matrices, self.widths, strict=True)]
        return tuple(cut[:-1]), cut[-1]

    def on_epoch_end(self) -> None:
        if self.rng is not None:
            self.batches = bucket_batches(self.widths[0], self.batch_size, self.rng)


def pair_bucketed(inputs, targets, batch_size: int, shuffle: bool = True, seed: int = 0):
    """:class:`PairBuckets` in the form ``model.fit`` takes on this backend (pass
    ``shuffle=False`` to ``fit``; the batches shuffle themselves)."""
    return backend.fit_input(PairBuckets(inputs, targets, batch_size, shuffle=shuffle,
                                         seed=seed))
