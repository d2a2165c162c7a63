"""Alignment scores, softmax and attention, written with ``keras.ops``.

The same functions run on NumPy arrays, inside Keras layers and models, and on CPU or GPU.
They return backend tensors (``keras.ops.convert_to_numpy`` turns one into a NumPy array).

Shapes (``...`` are batch dimensions, which broadcast):

- ``query`` (..., T_q, d_q), ``keys`` (..., T_k, d_k), ``values`` (..., T_k, d_v);
- scores and weights (..., T_q, T_k): row ``i`` holds query ``i``'s scores for every key;
- context (..., T_q, d_v): row ``i`` is the weighted sum of the values for query ``i``.

A ``mask`` is boolean and broadcasts to the scores' shape. **True = attend, False = ignore**, as
in Keras. For a key padding mask of shape (batch, T_k) pass ``mask[:, None, :]``
(shape (batch, 1, T_k)), so that it broadcasts over the queries.

Bad shapes raise ``ValueError`` naming both shapes. Inputs are cast to a common floating dtype
(the inputs' own, promoted; integer inputs become ``keras.backend.floatx()``).

Score functions (Luong et al. 2015; Bahdanau et al. 2015; Vaswani et al. 2017):

==================  ===========================  =====================================
``"dot"``           q kᵀ                         :func:`dot_scores`
``"scaled_dot"``    q kᵀ / √d                    :func:`scaled_dot_scores`
``"general"``       q W kᵀ                       :func:`general_scores` (``w=``)
``"additive"``      vᵀ tanh(q W_q + k W_k)       :func:`additive_scores` (``w_q=, w_k=, v=``)
==================  ===========================  =====================================

Relation to Keras' layers (tested in ``tests/test_attention.py``):

- ``keras.layers.Attention(use_scale=False)`` computes ``attend(q, k, v, score="dot")``;
  with ``use_scale=True`` it multiplies the dot scores by a learned scalar (initialised to 1):
  set it to 1/√d and it computes ``score="scaled_dot"``.
- ``keras.layers.AdditiveAttention`` has no projection matrices: its score is
  Σ_j scale_j tanh(q_j + k_j), i.e. ``additive_scores`` with ``w_q = w_k = I`` and
  ``v = scale``. Fed the projected inputs ``q W_q`` and ``k W_k`` with ``scale = v`` it
  computes ``additive_scores(q, k, w_q, w_k, v)``.
- Keras masks by subtracting 1e9 from masked scores; a row with nothing to attend to then gets
  (nearly) uniform weights. :func:`masked_softmax` gives such a row all zeros instead, so its
  context vector is zero (Keras also zeroes the output of a masked query).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
from keras import ops

__all__ = [
    "SCORES",
    "additive_scores",
    "attend",
    "dot_scores",
    "general_scores",
    "masked_softmax",
    "scaled_dot_scores",
    "softmax",
]


# -- helpers: conversion and shape checks -----------------------------------------------------


def _as_float_tensors(*arrays):
    """Convert arrays to tensors of one common floating dtype."""
    tensors = [ops.convert_to_tensor(a) for a in arrays]
    dtype = keras.backend.result_type(*(keras.backend.standardize_dtype(t.dtype) for t in tensors))
    if not keras.backend.is_float_dtype(dtype):
        dtype = keras.backend.floatx()
    return [t if keras.backend.standardize_dtype(t.dtype) == dtype else ops.cast(t, dtype)
            for t in tensors]


def _shape(x) -> tuple:
    """The static shape of a tensor as a tuple (``None`` for unknown dimensions)."""
    return tuple(x.shape)


def _require_rank(name: str, x, rank: int, layout: str) -> None:
    if len(_shape(x)) < rank:
        raise ValueError(f"{name} must have shape {layout}, got shape {_shape(x)}")


def _dims_match(a, b) -> bool:
    return a is None or b is None or a == b


def _broadcast_shape(a: tuple, b: tuple) -> tuple | None:
    """NumPy's broadcast of two static shapes (``None`` = unknown); ``None`` if impossible."""
    result = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == 1 or x is None:
            result.append(x if y == 1 else y)
        elif y == 1 or y is None or x == y:
            result.append(x)
        else:
            return None
    return tuple(reversed(result))


def _broadcasts_to(shape: tuple, target: tuple) -> bool:
    """True if an array of ``shape`` broadcasts to ``target`` without enlarging it."""
    if len(shape) > len(target):
        return False
    pairs = zip(reversed(shape), reversed(target[len(target) - len(shape):]), strict=True)
    return all(m == 1 or _dims_match(m, t) for m, t in pairs)


def _check_pair(query, keys, feature_check: bool = True) -> None:
    """Check that query (..., T_q, d) and keys (..., T_k, d) fit together."""
    _require_rank("query", query, 2, "(..., T_q, d_q)")
    _require_rank("keys", keys, 2, "(..., T_k, d_k)")
    q, k = _shape(query), _shape(keys)
    if feature_check and not _dims_match(q[-1], k[-1]):
        raise ValueError(
            f"query and keys must have the same feature size (last axis) for this score: "
            f"query shape {q}, keys shape {k}"
        )
    if _broadcast_shape(q[:-2], k[:-2]) is None:
        raise ValueError(
            f"query and keys have batch dimensions that do not broadcast: "
            f"query shape {q}, keys shape {k}"
        )


def _check_weight(name: str, w, shape: tuple, meaning: str) -> None:
    got = _shape(w)
    if len(got) != len(shape) or not all(
        _dims_match(g, s) for g, s in zip(got, shape, strict=True)
    ):
        raise ValueError(f"{name} must have shape {shape} ({meaning}), got shape {got}")


# -- score functions --------------------------------------------------------------------------


def dot_scores(query, keys):
    """Dot-product scores q kᵀ: query (..., T_q, d), keys (..., T_k, d) → (..., T_q, T_k)."""
    query, keys = _as_float_tensors(query, keys)
    _check_pair(query, keys)
    return ops.matmul(query, ops.swapaxes(keys, -1, -2))


def scaled_dot_scores(query, keys):
    """Scaled dot-product scores q kᵀ / √d (Vaswani et al.): shapes as :func:`dot_scores`.

    Dividing by √d keeps the scores' variance near 1 when the entries of q and k are
    independent with mean 0 and variance 1.
    """
    query, keys = _as_float_tensors(query, keys)
    _check_pair(query, keys)
    d = _shape(keys)[-1]
    if d is None:
        d = ops.cast(ops.shape(keys)[-1], keys.dtype)
        return ops.matmul(query, ops.swapaxes(keys, -1, -2)) / ops.sqrt(d)
    return ops.matmul(query, ops.swapaxes(keys, -1, -2)) / math.sqrt(d)


def general_scores(query, keys, w):
    """Luong's "general" scores q W kᵀ.

    query (..., T_q, d_q), keys (..., T_k, d_k), ``w`` (d_q, d_k) → (..., T_q, T_k).
    """
    query, keys, w = _as_float_tensors(query, keys, w)
    _check_pair(query, keys, feature_check=False)
    d_q, d_k = _shape(query)[-1], _shape(keys)[-1]
    _check_weight("w", w, (d_q, d_k), f"(d_q, d_k) for query shape {_shape(query)} "
                  f"and keys shape {_shape(keys)}")
    return ops.matmul(ops.matmul(query, w), ops.swapaxes(keys, -1, -2))


def additive_scores(query, keys, w_q, w_k, v):
    """Bahdanau's additive scores vᵀ tanh(q W_q + k W_k), for every (query, key) pair.

    query (..., T_q, d_q), keys (..., T_k, d_k), ``w_q`` (d_q, h), ``w_k`` (d_k, h), ``v`` (h,)
    → (..., T_q, T_k). The intermediate tensor has shape (..., T_q, T_k, h).
    """
    query, keys, w_q, w_k, v = _as_float_tensors(query, keys, w_q, w_k, v)
    _check_pair(query, keys, feature_check=False)
    h = _shape(v)[-1] if len(_shape(v)) == 1 else None
    _check_weight("v", v, (h,), "(h,), a vector")
    for_shapes = f"query shape {_shape(query)}, keys shape {_shape(keys)}, v shape {_shape(v)}"
    _check_weight("w_q", w_q, (_shape(query)[-1], h), f"(d_q, h) for {for_shapes}")
    _check_weight("w_k", w_k, (_shape(keys)[-1], h), f"(d_k, h) for {for_shapes}")
    projected_q = ops.expand_dims(ops.matmul(query, w_q), -2)  # (..., T_q, 1, h)
    projected_k = ops.expand_dims(ops.matmul(keys, w_k), -3)  # (..., 1, T_k, h)
    return ops.sum(v * ops.tanh(projected_q + projected_k), axis=-1)


SCORES: dict[str, Callable] = {
    "dot": dot_scores,
    "scaled_dot": scaled_dot_scores,
    "general": general_scores,
    "additive": additive_scores,
}
"""The score functions :func:`attend` knows by name."""


# -- from scores to weights -------------------------------------------------------------------


def softmax(x, axis=-1):
    """Numerically stable softmax exp(x_i) / Σ_j exp(x_j) along ``axis``.

    The maximum is subtracted first, so scores of ±1e4 (or far beyond) neither overflow nor
    underflow to 0/0. Entries of −inf get weight exactly 0; a slice that is all −inf gets all
    zeros (there is nothing to attend to). NaN or +inf entries give NaN.
    """
    (x,) = _as_float_tensors(x)
    peak = ops.stop_gradient(ops.max(x, axis=axis, keepdims=True))
    peak = ops.where(ops.isfinite(peak), peak, ops.zeros_like(peak))
    exps = ops.exp(x - peak)
    total = ops.sum(exps, axis=axis, keepdims=True)
    return exps / ops.where(total > 0, total, ops.ones_like(total))


def _check_mask(mask, scores_shape: tuple) -> None:
    got = _shape(mask)
    if not _broadcasts_to(got, scores_shape):
        hint = ""
        if len(got) == len(scores_shape) - 1:
            hint = "; for a key padding mask of shape (batch, T_k) pass mask[:, None, :]"
        raise ValueError(
            f"mask of shape {got} does not broadcast to the scores' shape {scores_shape}{hint}"
        )


def masked_softmax(scores, mask=None, axis=-1):
    """Softmax over the positions where ``mask`` is True (True = attend, as in Keras).

    ``mask`` is boolean (or 0/1), broadcastable to ``scores``; ``None`` means attend
    everywhere. Masked positions get weight exactly 0; a row with no True position gets all
    zeros (not NaN, and not uniform weights).
    """
    (scores,) = _as_float_tensors(scores)
    if mask is None:
        return softmax(scores, axis=axis)
    mask = ops.convert_to_tensor(mask)
    _check_mask(mask, _shape(scores))
    mask = ops.cast(mask, "bool")
    hidden = ops.full_like(scores, -math.inf)
    weights = softmax(ops.where(mask, scores, hidden), axis=axis)
    return ops.where(mask, weights, ops.zeros_like(weights))


def attend(query, keys, values, score="scaled_dot", mask=None, **params):
    """Attention: scores, masked softmax weights, and the weighted sum of the values.

    ``query`` (..., T_q, d_q), ``keys`` (..., T_k, d_k), ``values`` (..., T_k, d_v);
    ``score`` is a name in :data:`SCORES` (``"dot"``, ``"scaled_dot"``, ``"general"``,
    ``"additive"``) or a function ``score(query, keys, **params)`` returning (..., T_q, T_k);
    ``params`` are the score's weights (``w=`` for general; ``w_q=, w_k=, v=`` for additive);
    ``mask`` broadcasts to (..., T_q, T_k), True = attend.

    Returns ``(context, weights)``: context (..., T_q, d_v), weights (..., T_q, T_k). A query
    with nothing to attend to gets zero weights and a zero context vector.
    """
    if isinstance(score, str):
        if score not in SCORES:
            raise ValueError(f"unknown score {score!r}; choose one of {sorted(SCORES)}")
        score_fn = SCORES[score]
    elif callable(score):
        score_fn = score
    else:
        raise ValueError(f"score must be a name in {sorted(SCORES)} or a function, got {score!r}")
    query, keys, values = _as_float_tensors(query, keys, values)
    _require_rank("values", values, 2, "(..., T_k, d_v)")
    k, v = _shape(keys), _shape(values)
    if len(k) >= 2 and (not _dims_match(k[-2], v[-2]) or _broadcast_shape(k[:-2], v[:-2]) is None):
        raise ValueError(
            f"keys and values must have the same number of positions T_k (and batch "
            f"dimensions that broadcast): keys shape {k}, values shape {v}"
        )
    scores = score_fn(query, keys, **params)
    weights = masked_softmax(scores, mask)
    weights = ops.cast(weights, values.dtype)
    return ops.matmul(weights, values), weights
