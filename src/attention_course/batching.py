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
the batch.
"""

from __future__ import annotations

import weakref

import numpy as np

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


def length_bucketed(x, y, batch_size: int, shuffle: bool = True, seed: int = 0):
    """A ``tf.data.Dataset`` of ``(x_batch, y_batch)`` batches of similar-length reviews.

    Every pass over the dataset (every epoch) draws new batches when ``shuffle`` is True,
    reproducibly from ``seed``. Each ``x_batch`` (b, t) is cut to its longest review, so
    batches differ in width: pass the dataset to ``model.fit`` with ``shuffle=False``.
    """
    import tensorflow as tf

    lengths = row_widths(x)
    x, y = np.asarray(x, dtype=np.int32), np.asarray(y, dtype=np.float32)
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape ({len(x)},) to match x of shape {x.shape}, "
                         f"got {y.shape}")
    rng = np.random.default_rng(seed) if shuffle else None

    def batches():
        for index in bucket_batches(lengths, batch_size, rng):
            yield x[index, : lengths[index].max()], y[index]

    signature = (
        tf.TensorSpec(shape=(None, None), dtype=tf.int32),
        tf.TensorSpec(shape=(None,), dtype=tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    # Telling tf.data the number of batches lets Keras show progress and end epochs cleanly.
    count = -(-len(x) // batch_size)
    return dataset.apply(tf.data.experimental.assert_cardinality(count)).prefetch(2)


_FORWARD = weakref.WeakKeyDictionary()


def _forward(model):
    """``model(x, training=False)`` as a ``tf.function`` traced once for any (batch, time).

    Calling ``model.predict_on_batch`` with batches of different widths would trace the
    model again for each new width (and TensorFlow warns about it); a fixed input signature
    with unknown dimensions is traced once per model.
    """
    import tensorflow as tf

    if model not in _FORWARD:
        spec = tf.TensorSpec(shape=(None, None), dtype=tf.int32)
        handle = weakref.ref(model)  # the cache must not keep the model alive
        _FORWARD[model] = tf.function(lambda x: handle()(x, training=False),
                                      input_signature=[spec])
    return _FORWARD[model]


def predict_by_length(model, x, batch_size: int = 256, per_position: bool = False):
    """``model``'s outputs for padded reviews ``x`` (n, maxlen), computed in length buckets.

    Reviews are sorted by length, run in batches cut to their longest review, and the outputs
    put back in the order of ``x``. By default the model outputs one number per review,
    (b, 1), and the result has shape (n,). With ``per_position`` it outputs one number per
    position, (b, t) (attention weights, say), and the result is zero-padded to (n, maxlen).
    """
    widths = row_widths(x)
    x = np.asarray(x, dtype=np.int32)
    forward = _forward(model)
    shape = (len(x), x.shape[1]) if per_position else (len(x),)
    out = np.zeros(shape, dtype=np.float32)
    for index in bucket_batches(widths, batch_size):
        width = widths[index].max()
        result = np.asarray(forward(x[index, :width]))
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
