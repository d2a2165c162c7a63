"""Pooling a sequence of states into one vector without learned weights: the controls for
attention pooling.

Attention pooling (:class:`attention_course.layers.AttentionPooling`) does two things at once:
it uses *every* state of a recurrent layer, and it *weights* them. A fair test of what the
weighting adds compares it with poolings that use every state with fixed weights:

- the masked **mean**, ``c = (1/n) Σ_t h_t`` over the n real positions: attention with
  uniform weights (:class:`MaskedMeanPooling`; it equals Keras' ``GlobalAveragePooling1D``
  except on a row with no real position, which gets a zero vector instead of 0/0 = NaN);
- the masked **max**, ``c_i = max_t h_{t,i}`` over the real positions, feature by feature
  (:class:`MaskedMaxPooling`; Keras' ``GlobalMaxPooling1D`` ignores the mask, so padding
  would take part in the max).

Both match :class:`~attention_course.layers.AttentionPooling` on an empty row (all-zero
weights, zero context), so the three poolings differ only in how they weight real positions.

Shapes: states (batch, time, d) float with a mask (batch, time) bool, True on real positions
(the Keras convention; Keras passes it on from a masking ``Embedding`` through recurrent
layers with ``return_sequences=True``); the output is (batch, d). Without a mask every
position counts. Bad shapes raise ``ValueError`` naming them.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["MaskedMaxPooling", "MaskedMeanPooling"]


def _checked_mask(inputs, mask):
    """The mask as a (batch, time, 1) bool tensor, after checking the shapes."""
    shape = tuple(inputs.shape)
    if len(shape) != 3:
        raise ValueError(
            f"pooling expects inputs of shape (batch, time, features), got shape {shape}"
        )
    if mask is None:
        return None
    mask_shape = tuple(mask.shape)
    if len(mask_shape) != 2 or not all(
        m is None or s is None or m == s for m, s in zip(mask_shape, shape[:2], strict=True)
    ):
        raise ValueError(
            f"the mask must have shape (batch, time) = {shape[:2]} to match inputs of shape "
            f"{shape}, got mask shape {mask_shape}"
        )
    return ops.expand_dims(ops.cast(mask, "bool"), -1)


class _SequencePooling(keras.layers.Layer):
    """Shared plumbing: masking support, no output mask, output shape (batch, d)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None  # one vector per sequence: nothing downstream to mask

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="attention_course")
class MaskedMeanPooling(_SequencePooling):
    """The mean of the states over the real (unmasked) positions: ``c = (1/n) Σ_t h_t``.

    Inputs (batch, time, d) float and an optional mask (batch, time) bool; output (batch, d).
    Equal to ``keras.layers.GlobalAveragePooling1D`` on rows with a real position; a row
    with none gets a zero vector. Raises ``ValueError`` for inputs that are not 3-D or a mask
    whose shape is not their (batch, time).
    """

    def call(self, inputs, mask=None):
        real = _checked_mask(inputs, mask)
        if real is None:
            return ops.mean(inputs, axis=1)
        weights = ops.cast(real, inputs.dtype)
        total = ops.sum(inputs * weights, axis=1)
        count = ops.sum(weights, axis=1)
        return total / ops.maximum(count, 1.0)


@keras.saving.register_keras_serializable(package="attention_course")
class MaskedMaxPooling(_SequencePooling):
    """The largest value of each feature over the real (unmasked) positions.

    ``c_i = max_{t: mask_t} h_{t,i}``: inputs (batch, time, d) float, optional mask
    (batch, time) bool; output (batch, d). A row with no real position gets a zero vector
    (not ``-inf``). Without a mask every position counts, as in
    ``keras.layers.GlobalMaxPooling1D``. Raises ``ValueError`` for inputs that are not 3-D or
    a mask whose shape is not their (batch, time).
    """

    def call(self, inputs, mask=None):
        real = _checked_mask(inputs, mask)
        if real is None:
            return ops.max(inputs, axis=1)
        largest = ops.max(ops.where(real, inputs, float("-inf")), axis=1)
        return ops.where(ops.any(real, axis=1), largest, ops.zeros_like(largest))
