"""Property-based tests (hypothesis) of attention_course.attention against NumPy references.

Each test draws shapes, a dtype (float16, bfloat16, float32, float64), entries across the
dtype's range (zeros, subnormals and magnitudes near overflow included), masks, and whether the
inputs are NumPy arrays or backend tensors. The result is compared with the same formula in
NumPy in extended precision (``np.longdouble``), within the rounding error that a correct
computation can make: a standard a-priori bound (n·u·Σ|terms| for a sum of n products, with u
the unit roundoff of the dtype the arithmetic runs in: float32 for float16/bfloat16), plus one
rounding to the result's dtype. The entries are drawn so that the exact result fits the dtype
(the claim is "right whenever the answer is representable").

CI runs a fixed set of examples (profile ``ci`` in ``tests/conftest.py``);
``HYPOTHESIS_PROFILE=explore`` draws many more at random.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import keras
import ml_dtypes
import numpy as np
from hypothesis import given

from attention_course import attention

NP_DTYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32,
             "float64": np.float64}
# JAX holds float64 only with JAX_ENABLE_X64=1: elsewhere float64 arrays become float32.
_HAS_FLOAT64 = keras.backend.standardize_dtype(
    keras.ops.convert_to_tensor(np.zeros(1)).dtype) == "float64"
DTYPES = st.sampled_from([d for d in sorted(NP_DTYPES) if d != "float64" or _HAS_FLOAT64])
# Keras' tanh on JAX returns float32 for a float64 tensor (keras.ops.tanh, Keras 3.x): the
# additive score is then only float32-accurate in float64, and is checked with that precision.
_TANH_DTYPE = keras.backend.standardize_dtype(
    keras.ops.tanh(keras.ops.convert_to_tensor(np.zeros(1))).dtype)
REF = np.longdouble  # the references' precision (80-bit on x86-64 Linux)
SLACK = 4  # room for a few ulps in exp/tanh and for any summation order
# (query batch shape, keys batch shape): none, equal, broadcast both ways.
BATCHES = st.sampled_from([((), ()), ((2,), (2,)), ((2, 1), (3,)), ((1,), (2,))])


@dataclass(frozen=True)
class Precision:
    eps: float  # of the result's dtype (one rounding to it costs at most eps·|x|)
    max: float  # largest finite value of the result's dtype
    tiny: float  # smallest positive number of the result's dtype that survives
    u: float  # unit roundoff of the dtype the arithmetic runs in
    tiny_c: float  # smallest normal number of that dtype (the underflow error per operation)


def precision(dtype: str) -> Precision:
    result = ml_dtypes.finfo(NP_DTYPES[dtype])
    compute = ml_dtypes.finfo(np.float32 if dtype in ("float16", "bfloat16") else
                              NP_DTYPES[dtype])
    # TensorFlow flushes subnormal numbers to zero on CPU: below the smallest normal number of
    # the dtype the arithmetic runs in, a value may become 0. (float16's subnormals are
    # normal in float32, the dtype its arithmetic runs in, and survive.)
    tiny_c = float(compute.smallest_normal)
    return Precision(float(result.eps), float(result.max),
                     max(float(result.smallest_subnormal), tiny_c), float(compute.eps) / 2,
                     tiny_c)


def to_ref(x) -> np.ndarray:
    """``x`` (a tensor or an array of any float dtype) in the references' precision."""
    x = np.asarray(x if isinstance(x, np.ndarray) else keras.ops.convert_to_numpy(x))
    return x.astype(REF) if x.dtype == REF else x.astype(np.float64).astype(REF)


@st.composite
def floats(draw, dtype: str, shape: tuple, bound: float, as_tensor: bool | None = None):
    """An array of ``dtype`` and ``shape`` with finite entries in [-bound, bound]."""
    width_dtype = {"float16": np.float16, "float64": np.float64}.get(dtype, np.float32)
    limit = width_dtype(bound)
    if limit > bound:  # the bound must be representable at the drawing width
        limit = np.nextafter(limit, width_dtype(0))
    elements = st.floats(-float(limit), float(limit), width=np.finfo(width_dtype).bits)
    x = draw(hnp.arrays(width_dtype, shape, elements=elements)).astype(NP_DTYPES[dtype])
    if as_tensor is None:
        as_tensor = draw(st.booleans())
    return keras.ops.convert_to_tensor(x) if as_tensor else x


def masks(shape: tuple):
    """Boolean masks that broadcast to ``shape``: full, or with size-1 leading axes."""
    shapes = st.sampled_from([shape, (1,) * (len(shape) - 1) + shape[-1:],
                              shape[:-1] + (1,)] if shape else [shape])
    return shapes.flatmap(lambda s: hnp.arrays(np.bool_, s))


def check_close(got, ref, allowed, what: str) -> None:
    """|got - ref| <= allowed everywhere (NaN nowhere), with a readable report."""
    bad = ~(np.abs(got - ref) <= allowed)
    assert not bad.any(), (
        f"{what}: {int(bad.sum())} of {bad.size} entries off; first at "
        f"{np.argwhere(bad)[0].tolist()}: got {got[bad][0]!r}, reference {ref[bad][0]!r}, "
        f"allowed error {allowed[bad][0]!r}"
    )


def check_dtype(x, dtype: str) -> None:
    assert keras.backend.standardize_dtype(x.dtype) == dtype, (x.dtype, dtype)


# -- the references ---------------------------------------------------------------------------


def ref_scores(kind, q, k, params, p: Precision):
    """Exact-ish scores (..., T_q, T_k) and a bound on a correct implementation's error."""
    q, k = to_ref(q), to_ref(k)
    k_t = np.swapaxes(k, -1, -2)
    if kind in ("dot", "scaled_dot"):
        d = q.shape[-1]
        scale = 1.0 if kind == "dot" else 1 / np.sqrt(REF(d))
        ref = np.matmul(q, k_t) * scale
        size = np.matmul(np.abs(q), np.abs(k_t)) * scale
        # Scaling the query rounds it (one more u). An entry or product below tiny_c may
        # become 0: an error of tiny_c times the other factor.
        underflow = d * p.tiny_c * (1 + np.abs(q).max() + np.abs(k).max())
        return ref, SLACK * ((d + 2) * p.u * size + underflow)
    if kind == "general":
        w = to_ref(params["w"])
        d_q, d_k = w.shape
        ref = np.matmul(np.matmul(q, w), k_t)
        size = np.matmul(np.matmul(np.abs(q), np.abs(w)), np.abs(k_t))
        big_q, big_w, big_k = np.abs(q).max(), np.abs(w).max(), np.abs(k).max()
        underflow = (d_q + 1) * d_k * p.tiny_c * (
            1 + big_q + big_k + big_w * big_k + big_q * big_k + big_q * big_w)
        return ref, SLACK * ((d_q + d_k + 2) * p.u * size + underflow)
    w_q, w_k, v = (to_ref(params[name]) for name in ("w_q", "w_k", "v"))
    (d_q, h), d_k = w_q.shape, w_k.shape[0]
    pq, pk = np.matmul(q, w_q)[..., :, None, :], np.matmul(k, w_k)[..., None, :, :]
    ref = np.sum(v * np.tanh(pq + pk), axis=-1)
    spread = ((d_q + 2) * np.matmul(np.abs(q), np.abs(w_q))[..., :, None, :]
              + (d_k + 2) * np.matmul(np.abs(k), np.abs(w_k))[..., None, :, :] + 3)
    error = p.u * (np.sum(np.abs(v) * spread, axis=-1) + (h + 1) * np.abs(v).sum())
    if _TANH_DTYPE != "float64" and p.u < ml_dtypes.finfo(np.float32).eps / 2:
        # tanh's input and output rounded to float32 (see _TANH_DTYPE)
        u32 = float(ml_dtypes.finfo(np.float32).eps) / 2
        error = error + u32 * np.sum(np.abs(v) * (np.abs(pq + pk) + 1), axis=-1)
    big = 1 + sum(np.abs(a).max() for a in (q, k, w_q, w_k))
    underflow = (d_q + d_k + 1) * p.tiny_c * (h + big * np.abs(v).sum())
    return ref, SLACK * (error + underflow)


def ref_softmax(x, mask, axis: int):
    """Masked softmax of finite ``x`` (longdouble): weights, and the shifted scores x - max."""
    x = to_ref(x)
    mask = np.broadcast_to(True if mask is None else np.asarray(mask), x.shape)
    peak = np.where(mask, x, -np.inf).max(axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    shifted = np.where(mask, x - peak, -np.inf)
    exps = np.exp(shifted)
    total = exps.sum(axis=axis, keepdims=True)
    return exps / np.where(total > 0, total, 1), shifted


def softmax_error(weights, shifted, axis: int, p: Precision, score_error=0.0):
    """Allowed error of computed weights: their own rounding (an error of u·|x - max| in each
    exponent, n·u in the sum), and ``score_error`` in the scores (scores off by at most δ
    change each weight by a factor within e^{±2δ}). Worked in logarithms, as e^{2δ} may be
    huge where a weight is tiny."""
    n = weights.shape[axis]
    relative = SLACK * p.u * (np.abs(shifted) + n + 2) + 2 * score_error
    total = np.exp(shifted).sum(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # fully masked rows: log 0
        log_w = np.where(np.isneginf(shifted), -np.inf, shifted - np.log(total))
        upper = np.exp(np.minimum(log_w + relative, 0))
        lower = np.exp(log_w - relative)
    allowed = np.maximum(upper - weights, weights - lower)
    return np.maximum(np.nan_to_num(allowed), 0) + SLACK * n * p.tiny_c


# -- the properties ---------------------------------------------------------------------------


@given(st.data())
def test_scores_match_numpy(data):
    dtype = data.draw(DTYPES, label="dtype")
    kind = data.draw(st.sampled_from(sorted(attention.SCORES)), label="score")
    (qb, kb), t_q, t_k = data.draw(BATCHES), data.draw(st.integers(1, 4)), data.draw(
        st.integers(1, 5))
    d_q = data.draw(st.integers(1, 6), label="d_q")
    d_k = d_q if kind in ("dot", "scaled_dot") else data.draw(st.integers(1, 6), label="d_k")
    p = precision(dtype)
    # Entries small enough that every exact score fits the dtype, with a factor 2 to spare:
    # large enough that q·k itself overflows for the scaled dot product when d_q >= 5.
    params = {}
    if kind == "dot":
        bound = math.sqrt(p.max / (2 * d_q))
    elif kind == "scaled_dot":
        bound = math.sqrt(p.max / (2 * math.sqrt(d_q)))
    elif kind == "general":
        bound = (p.max / (2 * d_q * d_k)) ** (1 / 3)
        params["w"] = data.draw(floats(dtype, (d_q, d_k), bound), label="w")
    else:
        h = data.draw(st.integers(1, 5), label="h")
        bound = math.sqrt(p.max / (4 * max(d_q, d_k)))
        params = {"w_q": data.draw(floats(dtype, (d_q, h), bound), label="w_q"),
                  "w_k": data.draw(floats(dtype, (d_k, h), bound), label="w_k"),
                  "v": data.draw(floats(dtype, (h,), p.max / (2 * h)), label="v")}
    q = data.draw(floats(dtype, (*qb, t_q, d_q), bound), label="query")
    k = data.draw(floats(dtype, (*kb, t_k, d_k), bound), label="keys")

    got = attention.SCORES[kind](q, k, **params)
    check_dtype(got, dtype)
    ref, error = ref_scores(kind, q, k, params, p)
    got = to_ref(got)
    assert got.shape == ref.shape
    check_close(got, ref, error + p.eps * np.abs(ref) + p.tiny, f"{kind} scores in {dtype}")


@given(st.data())
def test_softmax_and_masked_softmax_match_numpy(data):
    dtype = data.draw(DTYPES, label="dtype")
    # Long rows too: their sums overflow float16 (70 000 > 65 504) and stall in bfloat16
    # (256 + 1 = 256) unless the arithmetic runs in float32.
    t = data.draw(st.integers(1, 6) | st.sampled_from([300, 70_000]), label="T")
    batch = data.draw(st.sampled_from([(), (3,), (2, 3)] if t < 10 else [()]), label="batch")
    shape = (*batch, t)
    p = precision(dtype)
    x = data.draw(floats(dtype, shape, p.max), label="scores")  # any finite score
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    mask = data.draw(st.none() | masks(shape), label="mask")

    if mask is None and data.draw(st.booleans(), label="plain softmax"):
        got = attention.softmax(x, axis=axis)
    else:
        got = attention.masked_softmax(x, mask, axis=axis)
    check_dtype(got, dtype)
    weights, shifted = ref_softmax(x, mask, axis)
    got = to_ref(got)
    check_close(got, weights, softmax_error(weights, shifted, axis, p) + p.eps * weights + p.tiny,
                f"softmax in {dtype}")
    if mask is not None:
        full = np.broadcast_to(mask, shape)
        assert np.all(got[~full] == 0), "masked positions must get exactly 0"
        nothing = ~full.any(axis=axis, keepdims=True)
        assert np.all(np.where(nothing, got, 0) == 0), "a fully masked row must be all zeros"


@given(st.data())
def test_nan_and_infinity_in_any_position(data):
    """A NaN or +inf score spoils its row (all NaN, as in SciPy and PyTorch) except where the
    mask hides it; -inf gets weight 0; masked positions and rows keep their zeros."""
    dtype = data.draw(DTYPES, label="dtype")
    rows, t = data.draw(st.integers(1, 4), label="rows"), data.draw(st.integers(1, 6), label="T")
    x = np.array(data.draw(floats(dtype, (rows, t), 10.0, as_tensor=False), label="scores"))
    kinds = data.draw(hnp.arrays(np.int8, (rows, t), elements=st.sampled_from([0, 0, 1, 2, 3])),
                      label="0 finite, 1 NaN, 2 +inf, 3 -inf")
    for code, special in ((1, np.nan), (2, np.inf), (3, -np.inf)):
        x[kinds == code] = special
    mask = data.draw(st.none() | hnp.arrays(np.bool_, (rows, t)), label="mask")

    got = to_ref(attention.masked_softmax(x, mask) if mask is not None else attention.softmax(x))
    attended = np.ones((rows, t), bool) if mask is None else mask
    for r in range(rows):
        scores, on = to_ref(x[r]), attended[r]
        expected = np.zeros(t, REF)
        if on.any() and (np.isnan(scores[on]).any() or (scores[on] == np.inf).any()):
            expected[on] = np.nan
        elif on.any():
            expected = ref_softmax(x[r], on, -1)[0]
        assert np.array_equal(np.isnan(got[r]), np.isnan(expected)), (x[r], on, got[r])
        finite = ~np.isnan(expected)
        np.testing.assert_allclose(got[r][finite], expected[finite], rtol=4 * precision(
            dtype).eps, atol=4 * precision(dtype).eps, err_msg=f"row {x[r]}, mask {on}")
        assert np.all(got[r][~on] == 0), "masked positions must stay exactly 0"


@given(st.data())
def test_attend_matches_numpy(data):
    dtype = data.draw(DTYPES, label="dtype")
    kind = data.draw(st.sampled_from(sorted(attention.SCORES)), label="score")
    (qb, kb), t_q, t_k = data.draw(BATCHES), data.draw(st.integers(1, 4)), data.draw(
        st.integers(1, 5))
    d = data.draw(st.integers(1, 6), label="d")
    d_v = data.draw(st.integers(1, 4), label="d_v")
    p = precision(dtype)
    # Moderate entries test the composition tightly; extreme ones (still giving scores and a
    # context that fit the dtype) test that nothing overflows on the way.
    extreme = data.draw(st.booleans(), label="extreme")
    bound, w_bound, v_bound = 3.0, 1.0, 2.0
    if extreme:
        bound = {"dot": math.sqrt(p.max / (2 * d)),
                 "scaled_dot": math.sqrt(p.max / (2 * math.sqrt(d))),
                 "general": (p.max / (2 * d * d)) ** (1 / 3),
                 "additive": math.sqrt(p.max / (4 * d))}[kind]
        w_bound, v_bound = bound, p.max / 6
    params = {}
    if kind == "general":
        params["w"] = data.draw(floats(dtype, (d, d), w_bound), label="w")
    elif kind == "additive":
        params = {"w_q": data.draw(floats(dtype, (d, 3), w_bound), label="w_q"),
                  "w_k": data.draw(floats(dtype, (d, 3), w_bound), label="w_k"),
                  "v": data.draw(floats(dtype, (3,), v_bound), label="v")}
    q = data.draw(floats(dtype, (*qb, t_q, d), bound), label="query")
    k = data.draw(floats(dtype, (*kb, t_k, d), bound), label="keys")
    values = data.draw(floats(dtype, (*kb, t_k, d_v), p.max / 2 if extreme else 5.0),
                       label="values")
    batch = np.broadcast_shapes(qb, kb)
    mask = data.draw(st.none() | masks((*batch, t_q, t_k)), label="mask")

    context, weights = attention.attend(q, k, values, score=kind, mask=mask, **params)
    check_dtype(context, dtype)
    check_dtype(weights, dtype)
    scores, score_error = ref_scores(kind, q, k, params, p)
    full = np.broadcast_to(True if mask is None else mask, scores.shape)
    ref_w, shifted = ref_softmax(scores, full, -1)
    row_error = np.where(full, score_error, 0).max(axis=-1, keepdims=True)
    w_error = softmax_error(ref_w, shifted, -1, p, row_error)
    got_w = to_ref(weights)
    check_close(got_w, ref_w, w_error + p.eps * ref_w + p.tiny, f"{kind} weights in {dtype}")
    assert np.all(got_w[~full] == 0)

    v = to_ref(values)
    ref_c = np.matmul(ref_w, v)
    c_error = (np.matmul(w_error, np.abs(v))
               + SLACK * (t_k + 1) * p.u * np.matmul(ref_w, np.abs(v))
               + SLACK * t_k * p.tiny_c)
    got_c = to_ref(context)
    check_close(got_c, ref_c, c_error + p.eps * np.abs(ref_c) + p.tiny,
                f"{kind} context in {dtype}")
    nothing = ~full.any(axis=-1)
    assert np.all(got_c[nothing] == 0), "a query with nothing to attend to has context 0"
