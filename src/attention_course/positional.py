"""Positional encodings: telling self-attention where each token stands.

Self-attention treats its input as a *set*: permute the positions of ``x`` and the output is
permuted the same way (it is permutation-equivariant), so "not good" and "good, not" look
alike. Adding a vector that depends on the position to each token's vector breaks the tie.

- **Sinusoidal** (Vaswani et al. 2017, section 3.5): for position ``pos`` and pair ``i`` of
  features, with ``ω_i = 1 / base^(2i / depth)``::

      PE[pos, 2i] = sin(pos · ω_i),    PE[pos, 2i + 1] = cos(pos · ω_i)

  Nothing is learned and any length works. That is the paper's **interleaved** layout (also
  KerasHub's ``SinePositionEncoding``). The authors' tensor2tensor code and the TensorFlow
  Transformer tutorial use the **concatenated** layout instead: all sines, then all cosines.
  The two hold the same numbers with the features in another order
  (:func:`layout_permutation`); the first layer that reads them can absorb a fixed
  permutation of its input rows, so neither layout can do more.
- **Learned**: a trainable (max_length, depth) table, one row per position (as in BERT and
  the keras-io Transformer example); it knows only lengths up to ``max_length``.

:class:`PositionalEncoding` adds either to its input and passes the Keras mask on.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from attention_course.self_attention import sequence_features

__all__ = ["LAYOUTS", "PositionalEncoding", "layout_permutation", "sinusoidal_encoding"]

LAYOUTS = ("interleaved", "concatenated")
"""Feature orders of the sinusoidal encoding: sin/cos alternating (the paper's) or all sines
then all cosines."""

KINDS = ("sinusoidal", "learned")


def _check_depth(depth) -> None:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 2 \
            or depth % 2:
        raise ValueError(f"depth must be a positive even integer (sin/cos pairs), got {depth!r}")


def _check_layout(layout) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")


def sinusoidal_encoding(length, depth: int, layout: str = "interleaved",
                        base: float = 10_000.0, dtype: str | None = None):
    """The sinusoidal positional encoding, a (length, depth) tensor.

    ``PE[pos, 2i] = sin(pos / base^(2i/depth))`` and ``PE[pos, 2i+1] = cos(…)`` for the
    ``"interleaved"`` layout (Vaswani et al. 2017); ``"concatenated"`` puts the depth/2 sines
    first and the cosines after them. Positions count from 0. ``length`` may be a Python int
    or a scalar tensor (a dynamic sequence length inside a model); ``dtype`` defaults to
    ``keras.backend.floatx()``. Values lie in [-1, 1].

    Raises ``ValueError`` for an odd or non-positive ``depth``, a negative ``length``, an
    unknown ``layout`` or a ``base`` ≤ 1.
    """
    _check_depth(depth)
    _check_layout(layout)
    if isinstance(length, (int, np.integer)) and not isinstance(length, bool) and length < 0:
        raise ValueError(f"length must be a non-negative integer, got {length!r}")
    if not base > 1:
        raise ValueError(f"base must exceed 1, got {base!r}")
    dtype = dtype or keras.backend.floatx()
    pairs = np.arange(depth // 2)
    frequencies = base ** (-2.0 * pairs / depth)  # ω_i, computed in float64
    positions = ops.cast(ops.arange(length), "float32")
    angles = ops.cast(positions[:, None] * ops.convert_to_tensor(frequencies, "float32"),
                      dtype)  # (length, depth/2)
    sines, cosines = ops.sin(angles), ops.cos(angles)
    if layout == "concatenated":
        return ops.concatenate([sines, cosines], axis=-1)
    return ops.reshape(ops.stack([sines, cosines], axis=-1), (-1, depth))


def layout_permutation(depth: int) -> np.ndarray:
    """Indices ``p`` (depth,) with ``interleaved == concatenated[:, p]``.

    Interleaved feature ``2i`` is the concatenated layout's sine ``i`` and feature ``2i+1`` its
    cosine ``depth/2 + i``: ``p = [0, depth/2, 1, depth/2 + 1, …]``. ``np.argsort(p)`` goes the
    other way.
    """
    _check_depth(depth)
    half = depth // 2
    return np.stack([np.arange(half), half + np.arange(half)], axis=-1).reshape(depth)


@keras.saving.register_keras_serializable(package="attention_course")
class PositionalEncoding(keras.layers.Layer):
    """Adds a positional encoding to a sequence of vectors: (batch, T, d) → (batch, T, d).

    Args:
        kind: ``"sinusoidal"`` (fixed, any length; :func:`sinusoidal_encoding`) or
            ``"learned"`` (a trainable (max_length, d) table).
        max_length: the longest sequence a learned table covers (required for
            ``"learned"``; ignored by ``"sinusoidal"``).
        layout: the sinusoidal feature order, ``"interleaved"`` or ``"concatenated"``.

    Position t of every sequence gets row t of the encoding added. Sequences padded at the end
    keep their real tokens at positions 0, 1, …, so the padding changes nothing; the Keras mask
    (True on real tokens) passes through unchanged. Raises ``ValueError`` when the input is not
    (batch, T, d) with an even d (sinusoidal), or is longer than ``max_length`` (learned).
    """

    def __init__(self, kind: str = "sinusoidal", max_length: int | None = None,
                 layout: str = "interleaved", **kwargs):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        _check_layout(layout)
        if kind == "learned" and (isinstance(max_length, bool)
                                  or not isinstance(max_length, int) or max_length < 1):
            raise ValueError(
                f"a learned positional encoding needs max_length, a positive integer; got "
                f"{max_length!r}"
            )
        self.kind = kind
        self.max_length = max_length
        self.layout = layout
        self.supports_masking = True

    def build(self, input_shape):
        depth = sequence_features(input_shape, "PositionalEncoding expects inputs")
        if self.kind == "sinusoidal":
            _check_depth(depth)
        else:
            self.table = self.add_weight(name="positions", shape=(self.max_length, depth),
                                         initializer=keras.initializers.RandomNormal(
                                             stddev=0.02))

    def call(self, inputs):
        length = inputs.shape[1]
        if not isinstance(length, int):  # unknown (None, or a symbolic dimension under JAX)
            length = None
        if length is not None and self.kind == "learned" and length > self.max_length:
            raise ValueError(
                f"input of length {length} is longer than this learned encoding's "
                f"max_length = {self.max_length}"
            )
        if length is None:
            length = ops.shape(inputs)[1]
        if self.kind == "sinusoidal":
            encoding = sinusoidal_encoding(length, inputs.shape[-1], self.layout,
                                           dtype=inputs.dtype)
        else:
            encoding = ops.cast(self.table[:length], inputs.dtype)
        return inputs + encoding

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(kind=self.kind, max_length=self.max_length, layout=self.layout)
        return config
