"""Multi-head attention, written with :func:`attention_course.attention.attend`.

``h`` heads each attend with their own projections, in parallel, and their outputs are
concatenated and projected once more (Vaswani et al. 2017, section 3.2.2)::

    head_i = attend(q W_Q^i, k W_K^i, v W_V^i)          (batch, T_q, value_dim)
    output = concat(head_1, …, head_h) W_O              (batch, T_q, d_out)

``key_dim`` is the size of **one head's** queries and keys, not of the model: with
``d_model = 64`` and 4 heads, Vaswani et al.'s choice is ``key_dim = 64 / 4 = 16``. All heads'
projections together form one matrix (d_model, h·key_dim); :func:`split_heads` cuts its output
into heads and :func:`merge_heads` glues the heads' outputs back together.

:class:`MultiHeadAttention` stores its weights with the shapes and in the order of
``keras.layers.MultiHeadAttention`` (query, key, value and output kernels and biases), so
``ours.set_weights(keras_layer.get_weights())`` copies a Keras layer into ours; the two then
agree to float32 rounding (``tests/test_multi_head.py``).
"""

from __future__ import annotations

import keras
from keras import ops

from attention_course.attention import attend
from attention_course.self_attention import attention_mask as combine_masks
from attention_course.self_attention import sequence_features

__all__ = ["MultiHeadAttention", "merge_heads", "split_heads"]


def split_heads(x, num_heads: int):
    """(..., T, num_heads · d) → (..., num_heads, T, d): one slice of features per head.

    Head i gets features ``i·d … (i+1)·d − 1`` of every position. A plain reshape to
    (..., num_heads, T, d) would be wrong: it would cut along positions, mixing positions
    within a head. Raises ``ValueError`` if the last axis is not a multiple of ``num_heads``.
    """
    x = ops.convert_to_tensor(x)
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"num_heads must be a positive integer, got {num_heads!r}")
    if len(x.shape) < 2:
        raise ValueError(f"x must have shape (..., T, features), got shape {tuple(x.shape)}")
    features = x.shape[-1]
    if features is None or features % num_heads:
        raise ValueError(
            f"the last axis of x (shape {tuple(x.shape)}) must be a known multiple of "
            f"num_heads = {num_heads}"
        )
    shape = ops.shape(x)
    x = ops.reshape(x, (*shape[:-1], num_heads, features // num_heads))  # (..., T, h, d)
    return ops.swapaxes(x, -3, -2)  # (..., h, T, d)


def merge_heads(x):
    """(..., num_heads, T, d) → (..., T, num_heads · d), the inverse of :func:`split_heads`."""
    x = ops.convert_to_tensor(x)
    if len(x.shape) < 3 or None in tuple(x.shape[-3:-2]) + tuple(x.shape[-1:]):
        raise ValueError(
            f"x must have shape (..., num_heads, T, d) with known num_heads and d, got shape "
            f"{tuple(x.shape)}"
        )
    heads, depth = x.shape[-3], x.shape[-1]
    x = ops.swapaxes(x, -3, -2)  # (..., T, h, d)
    shape = ops.shape(x)
    return ops.reshape(x, (*shape[:-2], heads * depth))


@keras.saving.register_keras_serializable(package="attention_course")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head scaled dot-product attention, equal to ``keras.layers.MultiHeadAttention``.

    Args:
        num_heads: number of heads h.
        key_dim: size of each head's queries and keys (per head, not in total).
        value_dim: size of each head's values (default ``key_dim``).
        use_bias: whether the four projections have biases (as Keras).
        output_shape: size of the output features (default: the query's feature size).

    Weights (the shapes of Keras' ``EinsumDense`` kernels, in Keras' order): query, key and
    value kernels (d_in, h, key_dim | value_dim) with biases (h, key_dim | value_dim), output
    kernel (h, value_dim, d_out) with bias (d_out,).

    Call arguments (as Keras):
        query: (batch, T_q, d_q); value: (batch, T_k, d_v); key: (batch, T_k, d_k), default
            ``value``. Self-attention is ``layer(x, x)``.
        query_mask, value_mask, key_mask: boolean (batch, T) masks, True on real positions;
            Keras fills them in from the inputs' Keras masks (``Embedding(mask_zero=True)``).
        attention_mask: boolean (batch, T_q, T_k), True = attend.
        use_causal_mask: also mask keys after each query (a decoder's self-attention).
        return_attention_scores: also return the weights (batch, h, T_q, T_k).

    Returns (batch, T_q, d_out), and the weights when asked. The masks are combined with
    :func:`attention_course.self_attention.attention_mask`.

    Differences from Keras: no dropout on the attention weights (Keras' ``dropout``,
    default 0), and a query that may attend to nothing (a padded query with ``query_mask``)
    gets zero weights, so its output is the output bias; Keras gives it uniform weights.
    Outputs at real query positions are the same.
    """

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None,
                 use_bias: bool = True, output_shape: int | None = None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_heads", num_heads), ("key_dim", key_dim),
                            ("value_dim", value_dim), ("output_shape", output_shape)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.use_bias = bool(use_bias)
        self.output_size = output_shape
        self.supports_masking = True

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        for name, shape in (("query", query_shape), ("value", value_shape),
                            ("key", key_shape)):
            sequence_features(shape, f"MultiHeadAttention expects {name}")
        h, out = self.num_heads, self.output_size or query_shape[-1]

        def projection(name, rows, width):
            kernel = self.add_weight(name=f"{name}_kernel", shape=(rows, h, width),
                                     initializer="glorot_uniform")
            bias = (self.add_weight(name=f"{name}_bias", shape=(h, width),
                                    initializer="zeros") if self.use_bias else None)
            return kernel, bias

        self.query_kernel, self.query_bias = projection("query", query_shape[-1], self.key_dim)
        self.key_kernel, self.key_bias = projection("key", key_shape[-1], self.key_dim)
        self.value_kernel, self.value_bias = projection("value", value_shape[-1],
                                                        self.value_dim)
        self.output_kernel = self.add_weight(name="output_kernel",
                                             shape=(h, self.value_dim, out),
                                             initializer="glorot_uniform")
        self.output_bias = (self.add_weight(name="output_bias", shape=(out,),
                                            initializer="zeros") if self.use_bias else None)

    def _project(self, x, kernel, bias):
        """x (batch, T, d_in) → (batch, h, T, width): all heads in one product, then split."""
        rows, heads, width = kernel.shape
        y = ops.matmul(x, ops.reshape(kernel, (rows, heads * width)))
        if bias is not None:
            y = y + ops.reshape(bias, (heads * width,))
        return split_heads(y, heads)

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, use_causal_mask=False, return_attention_scores=False):
        if key is None or key is value:
            key, key_mask = value, None  # as Keras: the key's mask counts only if key differs
        mask = self.combined_mask(query, value, query_mask, value_mask, key_mask,
                                  attention_mask, use_causal_mask)
        q = self._project(query, self.query_kernel, self.query_bias)  # (b, h, T_q, k)
        k = self._project(key, self.key_kernel, self.key_bias)  # (b, h, T_k, k)
        v = self._project(value, self.value_kernel, self.value_bias)  # (b, h, T_k, v)
        heads, weights = attend(q, k, v, score="scaled_dot", mask=mask)
        rows = self.num_heads * self.value_dim
        output = ops.matmul(merge_heads(heads),  # (b, T_q, h·v) @ (h·v, d_out)
                            ops.reshape(self.output_kernel, (rows, -1)))
        if self.output_bias is not None:
            output = output + self.output_bias
        return (output, weights) if return_attention_scores else output

    @staticmethod
    def combined_mask(query, value, query_mask=None, value_mask=None, key_mask=None,
                      attention_mask=None, use_causal_mask=False):
        """All masks in one boolean tensor with a head axis, (batch | 1, 1, T_q, T_k), or None.

        Padding masks (batch, T) and the causal mask go through
        :func:`attention_course.self_attention.attention_mask`; an explicit
        ``attention_mask`` (batch, T_q, T_k) is and-ed in.
        """
        key_padding = value_mask
        if key_mask is not None:
            key_padding = key_mask if value_mask is None else ops.logical_and(
                ops.cast(value_mask, "bool"), ops.cast(key_mask, "bool"))
        lengths = {"query_length": query.shape[1], "key_length": value.shape[1]}
        if None in lengths.values():  # known only at run time
            lengths = {"query_length": ops.shape(query)[1], "key_length": ops.shape(value)[1]}
        mask = combine_masks(query_mask, key_padding, use_causal_mask, **lengths)
        if attention_mask is not None:
            attention_mask = ops.convert_to_tensor(attention_mask)
            expected = (query.shape[0], query.shape[1], value.shape[1])
            got = tuple(attention_mask.shape)
            known = [(g, e) for g, e in zip(got, expected, strict=False)
                     if isinstance(g, int) and isinstance(e, int)]  # not None or symbolic
            if len(got) != 3 or any(g != e for g, e in known):
                raise ValueError(
                    f"attention_mask must have shape (batch, T_q, T_k) = {expected}, got "
                    f"shape {got}"
                )
            attention_mask = ops.cast(attention_mask, "bool")
            mask = attention_mask if mask is None else ops.logical_and(mask, attention_mask)
        return None if mask is None else ops.expand_dims(mask, 1)

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, key_dim=self.key_dim,
                      value_dim=self.value_dim, use_bias=self.use_bias,
                      output_shape=self.output_size)
        return config
