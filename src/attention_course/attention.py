"""Alignment scores, softmax and attention, written with ``keras.ops``.

The same functions run on NumPy arrays, inside Keras layers and models, and on CPU or GPU.
They return backend tensors (``keras.ops.convert_to_numpy`` turns one into a NumPy array).

Shapes (``...`` are batch dimensions, which broadcast):

- ``query`` (..., T_q, d_q), ``keys`` (..., T_k, d_k), ``values`` (..., T_k, d_v);
- scores and weights (..., T_q, T_k): row ``i`` holds query ``i``'s scores for every key;
- context (..., T_q, d_v): row ``i`` is the weighted sum of the values for query ``i``.

**Inputs.** Every argument may be a NumPy array, a nested list, a Keras variable, or a backend
tensor or variable, as for ``keras.ops``; Keras' symbolic tensors (``keras.Input``) give
symbolic results. A ragged list, ``None`` or a non-numeric array raises an error naming the
argument. Bad shapes raise ``ValueError`` naming the shapes involved.

**Masks.** A ``mask`` broadcasts to the scores' shape and follows the Keras convention: **True
(or 1) = attend, False (or 0) = ignore**. Any other values raise ``ValueError``: in
particular an *additive* mask (0 = keep, −inf or −1e9 = drop, common in Transformer code)
would otherwise be read backwards; convert one with ``mask = additive_mask == 0``. Inside a
traced function (``tf.function``, ``jax.jit``, a Keras model being built) a mask's values
cannot be inspected, so there the mask must be boolean. For a key padding mask of shape
(batch, T_k) pass ``mask[:, None, :]`` (shape (batch, 1, T_k)), so that it broadcasts over the
queries.

**Dtypes.** Inputs are promoted to one floating dtype (integer and boolean inputs become
``keras.backend.floatx()``), and results come back in that dtype. ``float16`` and
``bfloat16`` inputs are computed in ``float32`` and rounded once at the end, as mixed-precision
training keeps its reductions in ``float32``: sums of many half-precision terms would otherwise
lose digits or overflow (``float16`` ends at 65504). The scaled dot product divides the query
by √d *before* the product, as Keras' ``MultiHeadAttention`` does, so that scores that fit the
dtype do not overflow on the way.

**NaN and infinity.** A NaN or +inf score makes every weight of its row NaN (as SciPy's and
PyTorch's softmax do), except at masked positions, which stay exactly 0; a −inf score gets
weight 0. A row with nothing to attend to (all masked, or all −inf) gets all-zero weights.

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
import numpy as np
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

_HALF = ("float16", "bfloat16")
_FLOAT_BITS = {"bfloat16": 16, "float16": 16, "float32": 32, "float64": 64}
_MASK_CONVENTION = (
    "a mask must be boolean or 0/1, True/1 = attend and False/0 = ignore (the Keras convention)"
)
_ADDITIVE_HINT = (
    "An additive mask (0 = keep, -inf or -1e9 = drop) converts with `mask = additive_mask == 0`"
)


# -- helpers: conversion, dtypes and shape checks ----------------------------------------------


def _to_tensor(name: str, x):
    """``x`` as a backend tensor (a Keras symbolic tensor stays symbolic), holding numbers."""
    if not keras.utils.is_keras_tensor(x):
        try:
            x = ops.convert_to_tensor(x, sparse=False)
        except (TypeError, ValueError) as err:
            raise _unreadable(name, x) from err
        if hasattr(x, "read_value"):  # a tf.Variable converts to itself, which lacks .ndim
            x = x.read_value()
    dtype = keras.backend.standardize_dtype(x.dtype)
    if not (dtype == "bool" or keras.backend.is_float_dtype(dtype)
            or keras.backend.is_int_dtype(dtype)):
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {dtype}")
    return x


def _unreadable(name: str, x) -> Exception:
    """The error for an argument that ``keras.ops`` cannot turn into a tensor."""
    if isinstance(x, (list, tuple)):
        try:
            kind = np.asarray(x).dtype.kind
        except ValueError:
            kind = "O"
        if kind in "USV":  # JAX refuses strings at conversion, TensorFlow after it
            return TypeError(f"{name} must hold real numbers, got {np.asarray(x).dtype}")
        try:
            np.asarray(x, dtype=float)
        except ValueError:
            return ValueError(
                f"{name} is a nested list whose rows differ in length (or hold non-numbers); "
                "it must be rectangular, e.g. padded to a common length"
            )
    if isinstance(x, np.ndarray) and x.dtype == object:
        return ValueError(
            f"{name} is a NumPy array of Python objects, shape {x.shape} (ragged rows?); "
            "it must be a rectangular numeric array"
        )
    return TypeError(
        f"{name} must be an array (NumPy array, nested list, Keras or backend tensor or "
        f"variable), got {type(x).__name__}"
    )


def _as_floats(**arrays):
    """Convert named arrays to tensors of one floating dtype.

    Returns ``(tensors, dtype)``: ``dtype`` is the inputs' promoted dtype (integers and
    booleans become ``floatx``), the dtype of the results; the tensors are in the dtype the
    arithmetic runs in, ``float32`` for ``float16``/``bfloat16`` inputs, else ``dtype``.
    """
    tensors = [_to_tensor(name, a) for name, a in arrays.items()]
    # The widest float dtype, as in JAX's promotion (float16 with bfloat16 gives float32).
    # Not keras.backend.result_type: outside TensorFlow it turns float64 into float32.
    floats = {keras.backend.standardize_dtype(t.dtype) for t in tensors} & set(_FLOAT_BITS)
    if not floats:
        dtype = keras.backend.floatx()
    elif floats == set(_HALF):
        dtype = "float32"
    else:
        dtype = max(floats, key=_FLOAT_BITS.get)
    compute = "float32" if dtype in _HALF else dtype
    return [_cast(t, compute) for t in tensors], dtype


def _cast(x, dtype: str):
    return x if keras.backend.standardize_dtype(x.dtype) == dtype else ops.cast(x, dtype)


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


def _value_now(x):
    """``x`` as a NumPy value if it is known now (eager), ``None`` inside a traced function."""
    if keras.utils.is_keras_tensor(x):
        return None
    try:
        return ops.convert_to_numpy(x)
    except (RuntimeError, TypeError):  # a tf.function or jax.jit tracer has no value yet
        return None


def _as_mask(mask, scores_shape: tuple):
    """``mask`` as a boolean tensor, True = attend, after checking its shape and values."""
    mask = _to_tensor("mask", mask)
    got = _shape(mask)
    if not _broadcasts_to(got, scores_shape):
        hint = ""
        if len(got) == len(scores_shape) - 1:
            hint = "; for a key padding mask of shape (batch, T_k) pass mask[:, None, :]"
        raise ValueError(
            f"mask of shape {got} does not broadcast to the scores' shape {scores_shape}{hint}"
        )
    dtype = keras.backend.standardize_dtype(mask.dtype)
    if dtype == "bool":
        return mask
    zero_or_one = ops.all(ops.logical_or(ops.equal(mask, 0), ops.equal(mask, 1)))
    known = _value_now(zero_or_one)
    if known is None:
        raise ValueError(
            f"{_MASK_CONVENTION}; inside a traced function the values of a {dtype} mask "
            "cannot be checked, so pass a boolean one: `mask == 1` for a 0/1 mask. "
            f"{_ADDITIVE_HINT}."
        )
    if not known:
        found = np.unique(ops.convert_to_numpy(mask))
        shown = ", ".join(str(v) for v in found[:4]) + (", ..." if len(found) > 4 else "")
        raise ValueError(
            f"{_MASK_CONVENTION}; got a {dtype} mask with values {shown}. {_ADDITIVE_HINT}."
        )
    return ops.equal(mask, 1)


# -- score functions --------------------------------------------------------------------------


def dot_scores(query, keys):
    """Dot-product scores q kᵀ (Luong et al. 2015, "dot").

    query (..., T_q, d), keys (..., T_k, d) → scores (..., T_q, T_k), in the inputs' dtype.
    Raises ``ValueError`` naming both shapes when the feature sizes or the batch dimensions
    do not fit.
    """
    (query, keys), dtype = _as_floats(query=query, keys=keys)
    _check_pair(query, keys)
    return _cast(ops.matmul(query, ops.swapaxes(keys, -1, -2)), dtype)


def scaled_dot_scores(query, keys):
    """Scaled dot-product scores q kᵀ / √d (Vaswani et al. 2017): shapes as :func:`dot_scores`.

    Dividing by √d keeps the scores' variance near 1 when the entries of q and k are
    independent with mean 0 and variance 1. The query is scaled before the product (as in
    Keras' ``MultiHeadAttention``), so a score that fits the dtype never overflows on the way.
    """
    (query, keys), dtype = _as_floats(query=query, keys=keys)
    _check_pair(query, keys)
    d = _shape(query)[-1]
    if d is None:  # unknown until run time (a traced function)
        scale = ops.rsqrt(ops.cast(ops.shape(query)[-1], query.dtype))
    else:
        scale = 1.0 / math.sqrt(d)
    return _cast(ops.matmul(query * scale, ops.swapaxes(keys, -1, -2)), dtype)


def general_scores(query, keys, w):
    """Luong's "general" scores q W kᵀ (Luong et al. 2015).

    query (..., T_q, d_q), keys (..., T_k, d_k), ``w`` (d_q, d_k) → (..., T_q, T_k), in the
    inputs' promoted dtype. Raises ``ValueError`` naming the shapes when ``w`` does not fit.
    """
    (query, keys, w), dtype = _as_floats(query=query, keys=keys, w=w)
    _check_pair(query, keys, feature_check=False)
    d_q, d_k = _shape(query)[-1], _shape(keys)[-1]
    _check_weight("w", w, (d_q, d_k), f"(d_q, d_k) for query shape {_shape(query)} "
                  f"and keys shape {_shape(keys)}")
    return _cast(ops.matmul(ops.matmul(query, w), ops.swapaxes(keys, -1, -2)), dtype)


def additive_scores(query, keys, w_q, w_k, v):
    """Bahdanau's additive scores vᵀ tanh(q W_q + k W_k), for every (query, key) pair.

    query (..., T_q, d_q), keys (..., T_k, d_k), ``w_q`` (d_q, h), ``w_k`` (d_k, h), ``v`` (h,)
    → (..., T_q, T_k), in the inputs' promoted dtype (Bahdanau et al. 2015). The intermediate
    tensor has shape (..., T_q, T_k, h). Raises ``ValueError`` naming the shapes when a
    weight does not fit.
    """
    (query, keys, w_q, w_k, v), dtype = _as_floats(query=query, keys=keys, w_q=w_q, w_k=w_k,
                                                   v=v)
    _check_pair(query, keys, feature_check=False)
    h = _shape(v)[-1] if len(_shape(v)) == 1 else None
    _check_weight("v", v, (h,), "(h,), a vector")
    for_shapes = f"query shape {_shape(query)}, keys shape {_shape(keys)}, v shape {_shape(v)}"
    _check_weight("w_q", w_q, (_shape(query)[-1], h), f"(d_q, h) for {for_shapes}")
    _check_weight("w_k", w_k, (_shape(keys)[-1], h), f"(d_k, h) for {for_shapes}")
    projected_q = ops.expand_dims(ops.matmul(query, w_q), -2)  # (..., T_q, 1, h)
    projected_k = ops.expand_dims(ops.matmul(keys, w_k), -3)  # (..., 1, T_k, h)
    return _cast(ops.sum(v * ops.tanh(projected_q + projected_k), axis=-1), dtype)


SCORES: dict[str, Callable] = {
    "dot": dot_scores,
    "scaled_dot": scaled_dot_scores,
    "general": general_scores,
    "additive": additive_scores,
}
"""The score functions :func:`attend` knows by name."""


# -- from scores to weights -------------------------------------------------------------------


def softmax(x, axis=-1):
    """Numerically stable softmax exp(x_i) / Σ_j exp(x_j) along ``axis``, in ``x``'s dtype.

    The maximum is subtracted first, so scores of ±1e4 (or far beyond) neither overflow nor
    underflow to 0/0. Entries of −inf get weight exactly 0; a slice that is all −inf gets all
    zeros (there is nothing to attend to). A slice holding a NaN or +inf is all NaN, as in
    ``scipy.special.softmax`` and ``torch.softmax``. Same values as ``keras.ops.softmax`` on
    finite scores.
    """
    (x,), dtype = _as_floats(x=x)  # float16 and bfloat16 are computed in float32
    peak = ops.stop_gradient(ops.max(x, axis=axis, keepdims=True))
    # An all -inf slice has peak -inf: shift it by 0, so its weights are 0, not NaN.
    # A NaN or +inf peak stays: x - peak is then NaN, and so is every weight of the slice.
    peak = ops.where(ops.equal(peak, -math.inf), 0.0, peak)
    exps = ops.exp(x - peak)
    total = ops.sum(exps, axis=axis, keepdims=True)  # >= 1, or 0 for an all -inf slice
    return _cast(exps / ops.where(ops.equal(total, 0.0), 1.0, total), dtype)


def masked_softmax(scores, mask=None, axis=-1):
    """Softmax over the positions where ``mask`` is True (True = attend, as in Keras).

    ``scores`` (..., T_q, T_k); ``mask`` broadcastable to ``scores`` without enlarging it,
    boolean or 0/1 (any other values raise ``ValueError``: convert an additive mask with
    ``additive_mask == 0``); ``None`` means attend everywhere. Returns weights of the scores'
    shape and dtype. Masked positions get weight exactly 0 whatever their score (NaN
    included); a row with no True position gets all zeros (not NaN, and not uniform weights);
    a NaN or +inf score at an attended position makes the row's attended weights NaN.
    """
    (scores,), dtype = _as_floats(scores=scores)
    if mask is None:
        return _cast(softmax(scores, axis=axis), dtype)
    mask = _as_mask(mask, _shape(scores))
    weights = softmax(ops.where(mask, scores, -math.inf), axis=axis)
    return _cast(ops.where(mask, weights, 0.0), dtype)


def attend(query, keys, values, score="scaled_dot", mask=None, **params):
    """Attention: scores, masked softmax weights, and the weighted sum of the values.

    ``query`` (..., T_q, d_q), ``keys`` (..., T_k, d_k), ``values`` (..., T_k, d_v);
    ``score`` is a name in :data:`SCORES` (``"dot"``, ``"scaled_dot"``, ``"general"``,
    ``"additive"``) or a function ``score(query, keys, **params)`` returning (..., T_q, T_k);
    ``params`` are the score's weights (``w=`` for general; ``w_q=, w_k=, v=`` for additive);
    ``mask`` broadcasts to (..., T_q, T_k), True (or 1) = attend, as in :func:`masked_softmax`.

    Returns ``(context, weights)``: context (..., T_q, d_v), weights (..., T_q, T_k), both in
    the promoted dtype of query, keys and values. A query with nothing to attend to gets zero
    weights and a zero context vector. The context is a matrix product, so a NaN or ±inf in
    ``values`` reaches every other query's context, even where its weight is 0 (0 × inf is
    NaN). Mismatched shapes raise ``ValueError`` naming them.
    """
    if isinstance(score, str):
        if score not in SCORES:
            raise ValueError(f"unknown score {score!r}; choose one of {sorted(SCORES)}")
        score_fn = SCORES[score]
    elif callable(score):
        score_fn = score
    else:
        raise ValueError(f"score must be a name in {sorted(SCORES)} or a function, got {score!r}")
    (query, keys, values), dtype = _as_floats(query=query, keys=keys, values=values)
    _require_rank("values", values, 2, "(..., T_k, d_v)")
    k, v = _shape(keys), _shape(values)
    if len(k) >= 2 and (not _dims_match(k[-2], v[-2]) or _broadcast_shape(k[:-2], v[:-2]) is None):
        raise ValueError(
            f"keys and values must have the same number of positions T_k (and batch "
            f"dimensions that broadcast): keys shape {k}, values shape {v}"
        )
    scores = _cast(_to_tensor("scores", score_fn(query, keys, **params)), query.dtype)
    s, q = _shape(scores), _shape(query)
    if len(s) < 2 or not (_dims_match(s[-2], q[-2]) and _dims_match(s[-1], k[-2])):
        raise ValueError(
            f"the score function must return shape (..., T_q, T_k) = (..., {q[-2]}, {k[-2]}) "
            f"for query shape {q} and keys shape {k}, got shape {s}"
        )
    if mask is None:
        weights = softmax(scores)
        context = ops.matmul(weights, values)
    else:
        mask = _as_mask(mask, s)
        weights = masked_softmax(scores, mask)
        attends = ops.any(mask, axis=-1, keepdims=True)  # (..., T_q or 1, 1)
        context = ops.where(attends, ops.matmul(weights, values), 0.0)
    return _cast(context, dtype), _cast(weights, dtype)
