"""Keras layers built on :mod:`attention_course.attention`.

:class:`AttentionPooling` turns a sequence of vectors into one vector, a weighted average
whose weights a learned query chooses. It is the step between a recurrent layer that returns
every state and a classifier that needs one vector per review::

    states (batch, time, d) --AttentionPooling--> context (batch, d)   [+ weights (batch, time)]

The layer reads the Keras mask that ``Embedding(mask_zero=True)`` creates and recurrent layers
with ``return_sequences=True`` pass on, so padded positions get a weight of exactly 0.
"""

from __future__ import annotations

import keras
from keras import ops

from attention_course.attention import attend

__all__ = ["AttentionPooling", "POOLING_SCORES"]

POOLING_SCORES = ("additive", "scaled_dot")
"""The score functions :class:`AttentionPooling` accepts."""


def _add_additive_weights(layer, d_q: int, d_k: int, v_initializer: str) -> None:
    """The additive score's weights on ``layer``: ``w_q`` (d_q, h), ``w_k`` (d_k, h), ``v`` (h,).

    ``h`` is ``layer.units`` or, when that is None, ``d_k`` (Bahdanau et al. 2015's v^T tanh(q
    W_q + k W_k)).
    """
    hidden = layer.units or d_k
    layer.w_q = layer.add_weight(name="w_q", shape=(d_q, hidden), initializer="glorot_uniform")
    layer.w_k = layer.add_weight(name="w_k", shape=(d_k, hidden), initializer="glorot_uniform")
    layer.v = layer.add_weight(name="v", shape=(hidden,), initializer=v_initializer)


@keras.saving.register_keras_serializable(package="attention_course")
class AttentionPooling(keras.layers.Layer):
    """Attention pooling with a learned query: one weighted average per sequence.

    For states ``h_1 … h_T`` (the keys and the values) and a learned query ``q``:

    - ``score="additive"`` (Bahdanau): ``s_t = vᵀ tanh(q W_q + h_t W_k)``, with ``q`` (1, d),
      ``W_q`` (d, units), ``W_k`` (d, units) and ``v`` (units,). Since ``q`` is fixed,
      ``q W_q`` acts as a learned bias: this is the pooling of Yang et al.'s hierarchical
      attention networks.
    - ``score="scaled_dot"``: ``s_t = q · h_t / √d`` with ``q`` (1, d).

    The weights are ``a = masked_softmax(s, mask)`` and the output is ``c = Σ_t a_t h_t``.

    Args:
        score: ``"additive"`` or ``"scaled_dot"``.
        units: size ``units`` of the additive score's hidden layer (default: ``d``);
            ignored by ``"scaled_dot"``.
        return_weights: if True the layer returns ``(context, weights)``, else the context.

    Call arguments:
        inputs: float tensor (batch, time, d).
        mask: optional (batch, time), boolean or 0/1, True/1 on real tokens; Keras passes it
            automatically from a masking ``Embedding`` through recurrent layers. Other
            values raise ``ValueError`` (an additive mask, 0 = keep and -inf = drop,
            converts with ``additive_mask == 0``); see :func:`attention_course.attention.attend`.

    Returns:
        context (batch, d), and with ``return_weights`` also weights (batch, time), which are
        exactly 0 where the mask is False and sum to 1 over each row's unmasked positions (a
        row with no unmasked position gets all-zero weights and a zero context).
    """

    def __init__(self, score: str = "additive", units: int | None = None,
                 return_weights: bool = False, **kwargs):
        super().__init__(**kwargs)
        if score not in POOLING_SCORES:
            raise ValueError(f"score must be one of {', '.join(POOLING_SCORES)}, got {score!r}")
        if units is not None and (not isinstance(units, int) or units < 1):
            raise ValueError(f"units must be a positive integer or None, got {units!r}")
        self.score = score
        self.units = units
        self.return_weights = bool(return_weights)
        self.supports_masking = True

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "AttentionPooling expects inputs of shape (batch, time, features) with a "
                f"known feature size, got shape {input_shape}"
            )
        features = input_shape[-1]
        self.query = self.add_weight(
            name="query", shape=(1, features), initializer="random_normal"
        )
        if self.score == "additive":
            _add_additive_weights(self, features, features, v_initializer="random_normal")

    def _check_call(self, inputs, mask) -> None:
        shape = tuple(inputs.shape)
        if len(shape) != 3:
            raise ValueError(
                f"AttentionPooling expects inputs of shape (batch, time, features), "
                f"got shape {shape}"
            )
        if mask is not None:
            mask_shape = tuple(mask.shape)
            same = len(mask_shape) == 2 and all(
                m is None or s is None or m == s
                for m, s in zip(mask_shape, shape[:2], strict=True)
            )
            if not same:
                raise ValueError(
                    f"the mask must have shape (batch, time) = {shape[:2]} to match inputs "
                    f"of shape {shape}, got mask shape {mask_shape}"
                )

    def call(self, inputs, mask=None):
        if mask is not None:
            mask = ops.convert_to_tensor(mask)  # a list or NumPy mask; attend checks its values
        self._check_call(inputs, mask)
        params = {}
        if self.score == "additive":
            params = {"w_q": self.w_q, "w_k": self.w_k, "v": self.v}
        # One query for every review: mask (batch, time) -> (batch, 1, time).
        key_mask = None if mask is None else ops.expand_dims(mask, 1)
        context, weights = attend(self.query, inputs, inputs,
                                  score=self.score, mask=key_mask, **params)
        context = ops.squeeze(context, axis=1)  # (batch, d)
        weights = ops.squeeze(weights, axis=1)  # (batch, time)
        if self.return_weights:
            return context, weights
        return context

    def compute_mask(self, inputs, mask=None):
        # The outputs are no longer sequences: nothing downstream should be masked.
        return (None, None) if self.return_weights else None

    def get_config(self):
        config = super().get_config()
        config.update(score=self.score, units=self.units, return_weights=self.return_weights)
        return config


# -- chapter 6: a decoder's states attend over an encoder's states ----------------------------

CROSS_ATTENTION_SCORES = ("dot", "general", "additive")
"""The score functions :class:`CrossAttention` accepts (chapter 3's, with learned weights)."""


@keras.saving.register_keras_serializable(package="attention_course")
class CrossAttention(keras.layers.Layer):
    """Queries from one sequence attend over the keys and values of another.

    In an encoder–decoder the queries are the decoder's states (one per output step), the keys
    and values the encoder's states (one per input position). For query ``q_i`` and key
    ``k_j`` the score is one of chapter 3's, computed by :func:`attention_course.attention.attend`:

    - ``"dot"`` (Luong et al. 2015): ``q_i · k_j``; needs d_q = d_k and has no weights;
    - ``"general"`` (Luong et al. 2015): ``q_i W k_jᵀ``, ``W`` (d_q, d_k);
    - ``"additive"`` (Bahdanau et al. 2015): ``vᵀ tanh(q_i W_q + k_j W_k)``, ``W_q`` (d_q, units),
      ``W_k`` (d_k, units), ``v`` (units,).

    The weights are the masked softmax of the scores over the keys and the context of query i
    is Σ_j a_ij v_j.

    Keras counterparts (tested in ``tests/test_seq2seq.py``): ``"dot"`` computes what
    ``keras.layers.Attention(use_scale=False)`` computes; ``"additive"`` computes what
    ``keras.layers.AdditiveAttention(use_scale=True)`` computes when that layer is fed the
    projected ``q W_q`` and ``k W_k`` and its ``scale`` holds ``v``.

    Args:
        score: one of :data:`CROSS_ATTENTION_SCORES`.
        units: size of the additive score's hidden layer (default: d_k); only for
            ``"additive"``.

    Call arguments:
        query: float (batch, T_q, d_q).
        keys: float (batch, T_k, d_k).
        values: float (batch, T_k, d_v); default: ``keys``.
        key_mask: optional bool (batch, T_k), **True = attend** (a real input position),
            False = padding. 0/1 integers are accepted.

    Returns:
        ``(context, weights)``: context (batch, T_q, d_v), weights (batch, T_q, T_k), which are 0
        on masked keys and sum to 1 over each query's unmasked keys.
    """

    def __init__(self, score: str = "additive", units: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if score not in CROSS_ATTENTION_SCORES:
            raise ValueError(
                f"score must be one of {', '.join(CROSS_ATTENTION_SCORES)}, got {score!r}")
        if units is not None and (not isinstance(units, int) or units < 1):
            raise ValueError(f"units must be a positive integer or None, got {units!r}")
        if units is not None and score != "additive":
            raise ValueError(f"units only applies to the additive score, not {score!r}")
        self.score = score
        self.units = units

    def build(self, query_shape, keys_shape, values_shape=None, key_mask_shape=None):
        query_shape, keys_shape = tuple(query_shape), tuple(keys_shape)
        for name, shape in (("query", query_shape), ("keys", keys_shape)):
            if len(shape) != 3 or shape[-1] is None:
                raise ValueError(f"CrossAttention expects {name} of shape (batch, time, "
                                 f"features) with a known feature size, got shape {shape}")
        d_q, d_k = query_shape[-1], keys_shape[-1]
        if self.score == "dot" and d_q != d_k:
            raise ValueError(f"the dot score needs queries and keys of one size, got query "
                             f"shape {query_shape} and keys shape {keys_shape}")
        if self.score == "general":
            self.w = self.add_weight(name="w", shape=(d_q, d_k), initializer="glorot_uniform")
        elif self.score == "additive":
            _add_additive_weights(self, d_q, d_k, v_initializer="glorot_uniform")

    def score_weights(self) -> dict:
        """The learned weights of the score, as :func:`~attention_course.attention.attend`
        takes them (``{}`` for ``"dot"``, ``{"w": ...}``, or ``{"w_q": ..., "w_k": ...,
        "v": ...}``)."""
        if self.score == "general":
            return {"w": self.w}
        if self.score == "additive":
            return {"w_q": self.w_q, "w_k": self.w_k, "v": self.v}
        return {}

    def call(self, query, keys, values=None, key_mask=None):
        values = keys if values is None else values
        shapes = [tuple(t.shape) for t in (query, keys, values)]
        if any(len(s) != 3 for s in shapes):
            raise ValueError(f"CrossAttention expects query, keys and values of shape "
                             f"(batch, time, features), got shapes {shapes}")
        mask = None
        if key_mask is not None:
            mask_shape = tuple(key_mask.shape)
            if len(mask_shape) != 2 or not all(
                    m is None or k is None or m == k
                    for m, k in zip(mask_shape, shapes[1][:2], strict=True)):
                raise ValueError(f"key_mask must have shape (batch, T_k) = {shapes[1][:2]} "
                                 f"to match keys of shape {shapes[1]}, got {mask_shape}")
            mask = ops.expand_dims(ops.cast(key_mask, "bool"), 1)  # (batch, 1, T_k)
        return attend(query, keys, values, score=self.score, mask=mask,
                      **self.score_weights())

    def compute_output_shape(self, query_shape, keys_shape, values_shape=None,
                             key_mask_shape=None):
        values_shape = keys_shape if values_shape is None else values_shape
        return ((query_shape[0], query_shape[1], values_shape[-1]),
                (query_shape[0], query_shape[1], keys_shape[1]))

    def get_config(self):
        config = super().get_config()
        config.update(score=self.score, units=self.units)
        return config
