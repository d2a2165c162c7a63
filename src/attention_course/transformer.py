"""A Transformer encoder block (Vaswani et al. 2017, section 3.1) as a Keras layer.

One block maps a sequence to a sequence of the same shape, (batch, T, d) → (batch, T, d), in
two sub-layers, each wrapped in a residual connection and a layer normalisation (Ba et al.
2016):

1. multi-head self-attention: every position reads every other (real) position;
2. a position-wise feed-forward network, ``Dense(ff_dim, relu) → Dense(d)``, applied to each
   position on its own.

Where the normalisation sits is a choice:

- **post-norm** (the original paper): ``x = LayerNorm(x + Dropout(Sublayer(x)))``;
- **pre-norm** (Xiong et al. 2020; GPT-2 and most recent models):
  ``x = x + Dropout(Sublayer(LayerNorm(x)))``, which keeps an identity path from input to
  output and trains deep stacks without a learning-rate warm-up. A pre-norm stack usually ends
  with one more LayerNorm; a single block used here does not need it.

The block reads the Keras mask (True on real tokens) from ``Embedding(mask_zero=True)``:
padded positions are never keys, and the mask passes on to the next layer (e.g.
:class:`~attention_course.layers.AttentionPooling`).
"""

from __future__ import annotations

import keras

from attention_course.multi_head import MultiHeadAttention
from attention_course.self_attention import sequence_features

__all__ = ["TransformerEncoderBlock"]


@keras.saving.register_keras_serializable(package="attention_course")
class TransformerEncoderBlock(keras.layers.Layer):
    """Self-attention and a feed-forward network, each with a residual and a LayerNorm.

    Args:
        num_heads: heads of the self-attention.
        key_dim: size of each head's queries and keys (default: ``d // num_heads``, as in
            Vaswani et al.).
        ff_dim: hidden size of the feed-forward network (the paper uses 4·d).
        dropout: rate of the dropout on each sub-layer's output before the residual sum.
        norm_first: False for post-norm (the paper), True for pre-norm.
        epsilon: LayerNorm's epsilon.

    Call arguments:
        inputs: float (batch, T, d).
        mask: boolean (batch, T), True on real tokens; Keras passes it from a masking layer.
        return_attention_scores: also return the attention weights (batch, heads, T, T).

    Returns (batch, T, d), with the input's mask; and the weights when asked. Padded
    positions get outputs too (nothing attends to them, and they attend to nothing, so their
    weights rows are 0); later layers must ignore them, which the mask tells them to do.
    """

    def __init__(self, num_heads: int, ff_dim: int, key_dim: int | None = None,
                 dropout: float = 0.1, norm_first: bool = False, epsilon: float = 1e-6,
                 **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_heads", num_heads), ("ff_dim", ff_dim),
                            ("key_dim", key_dim)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.key_dim = key_dim
        self.dropout = float(dropout)
        self.norm_first = bool(norm_first)
        self.epsilon = float(epsilon)
        self.supports_masking = True
        self.attention_norm = keras.layers.LayerNormalization(epsilon=epsilon,
                                                              name="attention_norm")
        self.feed_forward_norm = keras.layers.LayerNormalization(epsilon=epsilon,
                                                                 name="feed_forward_norm")
        self.hidden = keras.layers.Dense(ff_dim, activation="relu", name="feed_forward_1")
        self.attention_dropout = keras.layers.Dropout(dropout)
        self.feed_forward_dropout = keras.layers.Dropout(dropout)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        d = sequence_features(input_shape, "TransformerEncoderBlock expects inputs")
        key_dim = self.key_dim or d // self.num_heads
        if key_dim < 1:
            raise ValueError(f"{self.num_heads} heads are more than the {d} features; pass "
                             "key_dim")
        self.attention = MultiHeadAttention(self.num_heads, key_dim, name="attention")
        self.output_layer = keras.layers.Dense(d, name="feed_forward_2")
        self.attention.build(input_shape, input_shape)
        self.attention_norm.build(input_shape)
        self.feed_forward_norm.build(input_shape)
        self.hidden.build(input_shape)
        self.output_layer.build(input_shape[:-1] + (self.ff_dim,))

    def _self_attention(self, x, mask):
        # Padded positions are neither keys (value_mask) nor queries (query_mask).
        return self.attention(x, x, query_mask=mask, value_mask=mask,
                              return_attention_scores=True)

    def _feed_forward(self, x):
        return self.output_layer(self.hidden(x))

    def call(self, inputs, mask=None, training=None, return_attention_scores=False):
        x = inputs
        if self.norm_first:  # x + Sublayer(LayerNorm(x))
            attended, weights = self._self_attention(self.attention_norm(x), mask)
            x = x + self.attention_dropout(attended, training=training)
            update = self._feed_forward(self.feed_forward_norm(x))
            x = x + self.feed_forward_dropout(update, training=training)
        else:  # LayerNorm(x + Sublayer(x))
            attended, weights = self._self_attention(x, mask)
            x = self.attention_norm(x + self.attention_dropout(attended, training=training))
            update = self._feed_forward(x)
            x = self.feed_forward_norm(
                x + self.feed_forward_dropout(update, training=training))
        return (x, weights) if return_attention_scores else x

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, ff_dim=self.ff_dim, key_dim=self.key_dim,
                      dropout=self.dropout, norm_first=self.norm_first,
                      epsilon=self.epsilon)
        return config
