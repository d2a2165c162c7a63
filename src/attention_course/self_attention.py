"""Self-attention: every position of a sequence is a query over the same sequence.

Given a sequence ``x`` (..., T, d_model), self-attention projects it three times with learned
matrices (Vaswani et al. 2017)::

    Q = x W_Q   (..., T, d_k)      K = x W_K   (..., T, d_k)      V = x W_V   (..., T, d_v)
    A = masked_softmax(Q Kᵀ / √d_k, mask)            (..., T, T)   row i: query i over all keys
    output = A V                                     (..., T, d_v)

the scaled dot score of chapter 3 and the masked softmax of chapter 4, with every position
asking. :func:`self_attention` computes exactly this with :func:`attention_course.attention.attend`.

Masks follow :mod:`attention_course.attention`: boolean (or 0/1), **True = attend**, and they
broadcast to the scores' shape (..., T_q, T_k). Two kinds matter here:

- a **padding mask** (batch, T), True on real tokens (``data.padding_mask``): padded positions
  must not be *keys*. It needs a query axis to broadcast over the queries: (batch, 1, T).
- a **causal mask** (T_q, T_k), True where key j ≤ query i (:func:`causal_mask`): a decoder
  predicting token i+1 from tokens ≤ i must not see later tokens, or training would let it copy
  the answer.

:func:`attention_mask` combines them the way ``keras.layers.MultiHeadAttention`` does, into one
boolean (batch, T_q, T_k) mask.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from attention_course.attention import _as_floats, attend

__all__ = ["attention_mask", "causal_mask", "self_attention", "sequence_features"]


def sequence_features(shape, what: str) -> int:
    """The feature size of a sequence shape (batch, time, features), for a layer's ``build``.

    ``what`` names the input in the error, e.g. ``"PositionalEncoding expects inputs"``.
    Raises ``ValueError`` if ``shape`` is not of rank 3 or its feature size is unknown.
    """
    shape = tuple(shape)
    if len(shape) != 3 or shape[-1] is None:
        raise ValueError(f"{what} of shape (batch, time, features) with known features, got "
                         f"shape {shape}")
    return shape[-1]


def causal_mask(query_length: int, key_length: int | None = None) -> np.ndarray:
    """Boolean (T_q, T_k) matrix, True where key position j ≤ query position i.

    Row i allows keys 0…i: the lower triangle including the diagonal. ``key_length``
    defaults to ``query_length``. This is the mask ``keras.layers.MultiHeadAttention`` builds
    for ``use_causal_mask=True`` (also when T_q ≠ T_k: row index ≥ column index).

    Raises ``ValueError`` unless the lengths are positive integers.
    """
    key_length = query_length if key_length is None else key_length
    for name, value in (("query_length", query_length), ("key_length", key_length)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    rows = np.arange(query_length)[:, None]
    columns = np.arange(key_length)[None, :]
    return columns <= rows


def _as_bool_mask(name: str, mask, layout: str, rank: int | None = None):
    """``mask`` as a boolean tensor; 0/1 numbers are accepted, any other values refused.

    Inside a traced function (symbolic tensors) the values are unknown and only cast.
    """
    mask = ops.convert_to_tensor(mask)
    if rank is not None and len(mask.shape) != rank:
        raise ValueError(f"{name} must have shape {layout}, got shape {tuple(mask.shape)}")
    if keras.backend.standardize_dtype(mask.dtype) == "bool":
        return mask
    try:
        values = ops.convert_to_numpy(mask)
    except Exception:  # a symbolic tensor while tracing: its values come at run time
        return ops.cast(mask, "bool")
    if not np.all((values == 0) | (values == 1)):
        raise ValueError(
            f"{name} must be boolean or 0/1 with True/1 = attend (the Keras convention); "
            f"got values such as {np.unique(values)[:4].tolist()}. An additive mask "
            f"(0 = keep, -inf = drop) converts with `mask == 0`"
        )
    return ops.cast(mask, "bool")


def attention_mask(query_mask=None, key_mask=None, causal: bool = False,
                   query_length: int | None = None, key_length: int | None = None):
    """One boolean mask (batch, T_q, T_k) from per-position masks and causality, or None.

    - ``query_mask`` (batch, T_q): True on real query positions; a False row gets nothing to
      attend to.
    - ``key_mask`` (batch, T_k): True on real key positions (a padding mask).
    - ``causal``: also require key j ≤ query i (:func:`causal_mask`); the lengths come from
      the masks, or from ``query_length`` / ``key_length`` when no mask is given (then the
      result has shape (1, T_q, T_k)).

    All parts are combined with logical *and*, as ``keras.layers.MultiHeadAttention`` does
    with the Keras masks of its inputs. Returns None when there is nothing to mask.
    Raises ``ValueError`` for masks of the wrong rank, batch sizes that differ, or values
    other than booleans or 0/1.
    """
    combined = None
    if query_mask is not None:
        query_mask = _as_bool_mask("query_mask", query_mask, "(batch, T_q)", rank=2)
        combined = ops.expand_dims(query_mask, -1)  # (batch, T_q, 1)
        if query_length is None:
            query_length = query_mask.shape[1] or ops.shape(query_mask)[1]
    if key_mask is not None:
        key_mask = _as_bool_mask("key_mask", key_mask, "(batch, T_k)", rank=2)
        batches = (None if query_mask is None else query_mask.shape[0], key_mask.shape[0])
        if all(isinstance(b, int) for b in batches) and batches[0] != batches[1]:
            raise ValueError(
                f"query_mask and key_mask must have the same batch size: shapes "
                f"{tuple(query_mask.shape)} and {tuple(key_mask.shape)}"
            )
        keys = ops.expand_dims(key_mask, -2)  # (batch, 1, T_k)
        combined = keys if combined is None else ops.logical_and(combined, keys)
        if key_length is None:
            key_length = key_mask.shape[1] or ops.shape(key_mask)[1]
    if causal:
        if query_length is None:
            query_length = key_length
        if query_length is None:
            raise ValueError("a causal mask needs its length: pass a mask or query_length")
        key_length = query_length if key_length is None else key_length
        # ops, not NumPy: inside a model the lengths may be known only at run time.
        rows = ops.expand_dims(ops.arange(query_length), -1)  # (T_q, 1)
        columns = ops.expand_dims(ops.arange(key_length), 0)  # (1, T_k)
        triangle = ops.expand_dims(columns <= rows, 0)  # (1, T_q, T_k), as causal_mask
        combined = triangle if combined is None else ops.logical_and(combined, triangle)
    return combined


def self_attention(x, w_q, w_k, w_v, mask=None, causal: bool = False):
    """Single-head scaled dot-product self-attention (Vaswani et al. 2017, eq. 1).

    Args:
        x: float array (..., T, d_model), the sequence; every position is a query.
        w_q, w_k: (d_model, d_k), the query and key projections W_Q, W_K.
        w_v: (d_model, d_v), the value projection W_V.
        mask: optional padding mask (..., T), True (or 1) on real tokens: padded positions
            are never attended to. It gets a query axis here, (..., 1, T).
        causal: if True, position i attends only to positions ≤ i.

    Returns:
        ``(output, weights)``: output (..., T, d_v) = A V and weights A (..., T, T), each
        row summing to 1 over the keys it may attend to.

    Raises ``ValueError`` when the shapes do not fit (naming them) or the mask is not
    boolean or 0/1.
    """
    (x, w_q, w_k, w_v), dtype = _as_floats(x=x, w_q=w_q, w_k=w_k, w_v=w_v)
    if len(x.shape) < 2:
        raise ValueError(f"x must have shape (..., T, d_model), got shape {tuple(x.shape)}")
    for name, w in (("w_q", w_q), ("w_k", w_k), ("w_v", w_v)):
        if len(w.shape) != 2 or w.shape[0] != x.shape[-1]:
            raise ValueError(
                f"{name} must have shape (d_model, d) with d_model = {x.shape[-1]} for x of "
                f"shape {tuple(x.shape)}, got shape {tuple(w.shape)}"
            )
    if w_q.shape[1] != w_k.shape[1]:
        raise ValueError(
            f"w_q and w_k must project to the same size d_k: shapes {tuple(w_q.shape)} and "
            f"{tuple(w_k.shape)}"
        )
    full_mask = None
    length = x.shape[-2]
    if mask is not None:
        mask = _as_bool_mask("mask", mask, "(..., T)")
        if tuple(mask.shape) != tuple(x.shape[:-1]):
            raise ValueError(
                f"mask must have shape (..., T) = {tuple(x.shape[:-1])} for x of shape "
                f"{tuple(x.shape)} (True on real tokens), got shape {tuple(mask.shape)}"
            )
        full_mask = ops.expand_dims(mask, -2)  # (..., 1, T): the same keys for every query
    if causal:
        triangle = causal_mask(length)
        full_mask = triangle if full_mask is None else ops.logical_and(full_mask, triangle)
    q, k, v = ops.matmul(x, w_q), ops.matmul(x, w_k), ops.matmul(x, w_v)
    output, weights = attend(q, k, v, score="scaled_dot", mask=full_mask)
    return ops.cast(output, dtype), ops.cast(weights, dtype)
