"""Tests of attention_course.attention: NumPy references, Keras' layers, masks, stability."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf  # only inputs of TensorFlow types, and TensorFlow's own tracing

from attention_course import attention, backend

ACTIVE = keras.backend.backend()
# Keras computes float64 in float32 in many ops outside TensorFlow (keras.backend.result_type
# maps float64 to float32 on JAX and PyTorch): float64 agrees with NumPy to float32's precision.
FLOAT64_RTOL, FLOAT64_ATOL = (1e-10, 1e-12) if ACTIVE == "tensorflow" else (1e-5, 1e-6)

BATCH_SHAPES = [(), (3,), (2, 3)]
T_Q, T_K, D_Q, D_K, D_V, H = 4, 6, 5, 3, 7, 8


def np_(x):
    return keras.ops.convert_to_numpy(x)


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# -- score functions against NumPy -----------------------------------------------------------


@pytest.mark.parametrize("batch", BATCH_SHAPES)
def test_dot_and_scaled_dot_match_numpy(rng, batch):
    q = rng.normal(size=(*batch, T_Q, D_Q))
    k = rng.normal(size=(*batch, T_K, D_Q))
    expected = np.einsum("...id,...jd->...ij", q, k)
    assert np_(attention.dot_scores(q, k)).shape == (*batch, T_Q, T_K)
    np.testing.assert_allclose(np_(attention.dot_scores(q, k)), expected, rtol=1e-12)
    np.testing.assert_allclose(
        np_(attention.scaled_dot_scores(q, k)), expected / math.sqrt(D_Q), rtol=1e-12
    )


@pytest.mark.parametrize("batch", BATCH_SHAPES)
def test_general_scores_match_numpy_with_different_sizes(rng, batch):
    q = rng.normal(size=(*batch, T_Q, D_Q))
    k = rng.normal(size=(*batch, T_K, D_K))
    w = rng.normal(size=(D_Q, D_K))
    expected = np.einsum("...id,de,...je->...ij", q, w, k)
    got = np_(attention.general_scores(q, k, w))
    assert got.shape == (*batch, T_Q, T_K)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("batch", BATCH_SHAPES)
def test_additive_scores_match_numpy_loop(rng, batch):
    q = rng.normal(size=(*batch, T_Q, D_Q))
    k = rng.normal(size=(*batch, T_K, D_K))
    w_q, w_k, v = rng.normal(size=(D_Q, H)), rng.normal(size=(D_K, H)), rng.normal(size=H)
    expected = np.empty((*batch, T_Q, T_K))
    for index in np.ndindex(*batch, T_Q, T_K):
        *b, i, j = index
        a_vec, b_vec = q[(*b, i)], k[(*b, j)]
        expected[index] = v @ np.tanh(a_vec @ w_q + b_vec @ w_k)
    got = np_(attention.additive_scores(q, k, w_q, w_k, v))
    np.testing.assert_allclose(got, expected, rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL)


def test_batch_dimensions_broadcast(rng):
    q = rng.normal(size=(2, 1, T_Q, D_Q))
    k = rng.normal(size=(3, T_K, D_Q))
    got = np_(attention.dot_scores(q, k))
    assert got.shape == (2, 3, T_Q, T_K)
    np.testing.assert_allclose(got, np.einsum("...id,...jd->...ij", q, k), rtol=1e-12)


def test_dtypes_follow_inputs_and_integers_become_floatx():
    ints = np.arange(6).reshape(1, 2, 3)
    assert np_(attention.dot_scores(ints, ints)).dtype == np.dtype(keras.backend.floatx())
    f32 = np.ones((2, 3), np.float32)
    assert np_(attention.softmax(f32)).dtype == np.float32
    assert np_(attention.dot_scores(f32, f32.astype(np.float64))).dtype == np.float64


# -- softmax ----------------------------------------------------------------------------------


def test_softmax_matches_numpy_and_is_a_distribution(rng):
    x = rng.normal(scale=3, size=(2, 3, 5))
    for axis in (-1, 0, 1):
        got = np_(attention.softmax(x, axis=axis))
        np.testing.assert_allclose(got, np_softmax(x, axis=axis), rtol=1e-12)
        assert got.min() >= 0 and got.max() <= 1
        np.testing.assert_allclose(got.sum(axis=axis), 1, rtol=1e-12)


def test_softmax_is_stable_for_huge_scores():
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1, 1e4 - 2], [-1e4 - 2, -1e4 - 1, -1e4]])
    for dtype in (np.float32, np.float64):
        got = np_(attention.softmax(x.astype(dtype)))
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got[0], [1, 0, 0])
        expected = np.exp([0.0, -1, -2]) / np.exp([0.0, -1, -2]).sum()
        np.testing.assert_allclose(got[1], expected, rtol=1e-6)
        np.testing.assert_allclose(got[2], expected[::-1], rtol=1e-6)
        np.testing.assert_allclose(got.sum(-1), 1, rtol=1e-6)


def test_softmax_with_minus_infinity():
    x = np.array([[0.0, -np.inf, 0.0], [-np.inf, 5.0, -np.inf], [-np.inf] * 3])
    got = np_(attention.softmax(x))
    np.testing.assert_array_equal(got, [[0.5, 0, 0.5], [0, 1, 0], [0, 0, 0]])


def test_softmax_is_shift_invariant(rng):
    x = rng.normal(size=(4, 6))
    np.testing.assert_allclose(
        np_(attention.softmax(x + 123.0)), np_(attention.softmax(x)), rtol=1e-12
    )


# -- masks ------------------------------------------------------------------------------------


def test_masked_positions_get_exactly_zero_and_the_rest_a_softmax(rng):
    scores = rng.normal(size=(2, T_Q, T_K))
    mask = rng.random((2, T_Q, T_K)) < 0.6
    mask[..., 0] = True
    got = np_(attention.masked_softmax(scores, mask))
    assert np.all(got[~mask] == 0.0)
    np.testing.assert_allclose(got.sum(-1), 1, rtol=1e-12)
    for index in np.ndindex(2, T_Q):
        row = mask[index]
        np.testing.assert_allclose(got[index][row], np_softmax(scores[index][row]), rtol=1e-12)


def test_fully_masked_row_is_all_zeros_not_nan_not_uniform(rng):
    scores = rng.normal(size=(3, 4)) * 1e4
    mask = np.array([[True, False, True, False]] + [[False] * 4] + [[True] * 4])
    got = np_(attention.masked_softmax(scores, mask))
    assert np.all(np.isfinite(got))
    np.testing.assert_array_equal(got[1], np.zeros(4))
    np.testing.assert_allclose(got[[0, 2]].sum(-1), 1, rtol=1e-12)


def test_fully_masked_row_has_finite_gradients(rng):
    scores = rng.normal(size=(2, 5))
    mask = np.array([[True, True, False, False, True], [False] * 5])

    def loss(s):
        weights = attention.masked_softmax(s, mask)
        return keras.ops.sum(weights * keras.ops.arange(5, dtype=weights.dtype))

    (grad,) = backend.gradients(loss, [scores])
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(grad[1], 0)
    np.testing.assert_array_equal(grad[0][~mask[0]], 0)


def test_mask_broadcasts_and_accepts_integers(rng):
    scores = rng.normal(size=(2, 3, 5))
    key_padding = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    got = np_(attention.masked_softmax(scores, key_padding[:, None, :]))
    np.testing.assert_array_equal(got[0, :, 3:], 0)
    np.testing.assert_allclose(got[0, :, :3], np_softmax(scores[0, :, :3]), rtol=1e-12)
    np.testing.assert_allclose(got[1], np_softmax(scores[1]), rtol=1e-12)


def test_attend_context_is_weighted_sum_of_values(rng):
    q, k = rng.normal(size=(2, T_Q, D_Q)), rng.normal(size=(2, T_K, D_Q))
    values = rng.normal(size=(2, T_K, D_V))
    mask = np.ones((2, 1, T_K), bool)
    mask[0, 0, 2:] = False
    context, weights = attention.attend(q, k, values, mask=mask)
    scores = np.einsum("bid,bjd->bij", q, k) / math.sqrt(D_Q)
    expected_w = np.where(mask, np_softmax(np.where(mask, scores, -np.inf)), 0)
    np.testing.assert_allclose(np_(weights), expected_w, rtol=1e-12)
    np.testing.assert_allclose(np_(context), expected_w @ values, rtol=1e-12)


def test_length_one_sequences(rng):
    q, k, v = rng.normal(size=(2, 1, 4)), rng.normal(size=(2, 1, 4)), rng.normal(size=(2, 1, 3))
    for score in ("dot", "scaled_dot"):
        context, weights = attention.attend(q, k, v, score=score)
        np.testing.assert_array_equal(np_(weights), np.ones((2, 1, 1)))
        np.testing.assert_allclose(np_(context), v, rtol=1e-12)
    context, weights = attention.attend(q, k, v, mask=np.zeros((2, 1, 1), bool))
    np.testing.assert_array_equal(np_(weights), 0)
    np.testing.assert_array_equal(np_(context), 0)


# -- against Keras' layers --------------------------------------------------------------------


def _keras_inputs(rng, t_q=T_Q, t_k=T_K, d=D_Q, d_v=D_V):
    q = rng.normal(size=(3, t_q, d)).astype("float32")
    k = rng.normal(size=(3, t_k, d)).astype("float32")
    v = rng.normal(size=(3, t_k, d_v)).astype("float32")
    q_mask = np.ones((3, t_q), bool)
    q_mask[1, -1] = False
    v_mask = np.ones((3, t_k), bool)
    v_mask[0, 3:] = False
    v_mask[2, :1] = False
    return q, k, v, q_mask, v_mask


@pytest.mark.parametrize(
    "use_scale, scale, score",
    [(False, None, "dot"), (True, 1.0, "dot"), (True, 1 / math.sqrt(D_Q), "scaled_dot")],
)
def test_attend_equals_keras_attention(rng, use_scale, scale, score):
    q, k, v, q_mask, v_mask = _keras_inputs(rng)
    layer = keras.layers.Attention(use_scale=use_scale)
    layer.build([q.shape, v.shape, k.shape])
    if use_scale:
        layer.scale.assign(scale)
    out, w_keras = layer([q, v, k], return_attention_scores=True)
    context, weights = attention.attend(q, k, v, score=score)
    np.testing.assert_allclose(np_(context), np_(out), atol=1e-5)
    np.testing.assert_allclose(np_(weights), np_(w_keras), atol=1e-5)

    # Masks: Keras' value mask is our key mask; its query mask zeroes a query's output,
    # which our fully masked row does too (its context is zero).
    out, w_keras = layer([q, v, k], mask=[q_mask, v_mask], return_attention_scores=True)
    mask = q_mask[:, :, None] & v_mask[:, None, :]
    context, weights = attention.attend(q, k, v, score=score, mask=mask)
    np.testing.assert_allclose(np_(context), np_(out), atol=1e-5)
    rows = q_mask  # Keras keeps weights for masked queries; ours are zero there
    np.testing.assert_allclose(np_(weights)[rows], np_(w_keras)[rows], atol=1e-5)
    assert np.all(np_(weights)[~rows] == 0)
    assert np.all(np_(weights)[~np.broadcast_to(v_mask[:, None, :], weights.shape)] == 0)


def test_attend_equals_keras_attention_without_separate_keys(rng):
    q, _, v, _, v_mask = _keras_inputs(rng, d_v=D_Q)
    out = keras.layers.Attention()([q, v], mask=[None, v_mask])
    context, _ = attention.attend(q, v, v, score="dot", mask=v_mask[:, None, :])
    np.testing.assert_allclose(np_(context), np_(out), atol=1e-5)


def test_additive_equals_keras_additive_attention_identity_mapping(rng):
    """AdditiveAttention's score Σ_j scale_j tanh(q_j + k_j) is ours with W_q = W_k = I."""
    q, k, v, q_mask, v_mask = _keras_inputs(rng)
    layer = keras.layers.AdditiveAttention()
    out, w_keras = layer([q, v, k], mask=[q_mask, v_mask], return_attention_scores=True)
    scale = np_(layer.scale)
    eye = np.eye(D_Q, dtype="float32")
    mask = q_mask[:, :, None] & v_mask[:, None, :]
    context, weights = attention.attend(
        q, k, v, score="additive", mask=mask, w_q=eye, w_k=eye, v=scale
    )
    np.testing.assert_allclose(np_(context), np_(out), atol=1e-5)
    np.testing.assert_allclose(np_(weights)[q_mask], np_(w_keras)[q_mask], atol=1e-5)


def test_additive_equals_keras_additive_attention_on_projected_inputs(rng):
    """With W_q, W_k: feed Keras q W_q and k W_k, and set its scale vector to v."""
    q, k, values, q_mask, v_mask = _keras_inputs(rng)
    d_k = 4
    k = rng.normal(size=(3, T_K, d_k)).astype("float32")
    w_q = rng.normal(size=(D_Q, H)).astype("float32")
    w_k = rng.normal(size=(d_k, H)).astype("float32")
    v = rng.normal(size=H).astype("float32")
    layer = keras.layers.AdditiveAttention()
    qp, kp = q @ w_q, k @ w_k
    layer.build([qp.shape, values.shape, kp.shape])
    layer.scale.assign(v)
    out, w_keras = layer([qp, values, kp], mask=[None, v_mask], return_attention_scores=True)
    context, weights = attention.attend(
        q, k, values, score="additive", mask=v_mask[:, None, :], w_q=w_q, w_k=w_k, v=v
    )
    np.testing.assert_allclose(np_(context), np_(out), atol=1e-5)
    np.testing.assert_allclose(np_(weights), np_(w_keras), atol=1e-5)


# -- inside Keras and tf.function -------------------------------------------------------------


class _Pool(keras.layers.Layer):
    """Attention of one learned query over a sequence: a layer built on ``attend``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def build(self, input_shape):
        self.query = self.add_weight(shape=(1, input_shape[-1]), initializer="ones")

    def call(self, inputs, mask=None):
        m = None if mask is None else mask[:, None, :]
        context, _ = attention.attend(self.query, inputs, inputs, mask=m)
        return context[:, 0, :]


def test_runs_inside_a_keras_model_and_trains(rng):
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20, 4, mask_zero=True)(tokens)
    outputs = keras.layers.Dense(1)(_Pool()(x))
    model = keras.Model(tokens, outputs)
    model.compile(optimizer="sgd", loss="mse")
    batch = np.array([[3, 4, 5, 0, 0], [0, 0, 0, 0, 0]])  # second review: all padding
    history = model.fit(batch, np.ones((2, 1)), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert np.all(np.isfinite(model.predict(batch, verbose=0)))


def _traced(fn):
    """``fn`` compiled by the active backend's tracer (tf.function, jax.jit)."""
    if ACTIVE == "tensorflow":
        return tf.function(fn)
    if ACTIVE == "jax":
        import jax

        return jax.jit(fn)
    pytest.skip("PyTorch runs Keras eagerly: nothing is traced")


@pytest.mark.skipif(ACTIVE != "tensorflow", reason="unknown dimensions exist in TF graphs only")
def test_runs_in_tf_function_with_unknown_shapes(rng):
    spec = tf.TensorSpec([None, None, None], tf.float32)

    @tf.function(input_signature=[spec, spec, spec])
    def run(q, k, v):
        return attention.attend(q, k, v)[0]

    q, k, v, _, _ = _keras_inputs(rng)
    np.testing.assert_allclose(
        run(q, k, v).numpy(), np_(attention.attend(q, k, v)[0]), rtol=1e-5
    )


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, first, second",
    [
        (lambda: attention.dot_scores(np.ones((2, 4, 5)), np.ones((2, 6, 3))),
         "(2, 4, 5)", "(2, 6, 3)"),
        (lambda: attention.scaled_dot_scores(np.ones((4, 5)), np.ones((6, 3))),
         "(4, 5)", "(6, 3)"),
        (lambda: attention.dot_scores(np.ones((2, 4, 5)), np.ones((3, 6, 5))),
         "(2, 4, 5)", "(3, 6, 5)"),
        (lambda: attention.attend(np.ones((2, 4, 5)), np.ones((2, 6, 5)), np.ones((2, 7, 3))),
         "(2, 6, 5)", "(2, 7, 3)"),
        (lambda: attention.general_scores(np.ones((4, 5)), np.ones((6, 3)), np.ones((3, 5))),
         "(4, 5)", "(3, 5)"),
        (lambda: attention.additive_scores(np.ones((4, 5)), np.ones((6, 3)), np.ones((5, 8)),
                                           np.ones((4, 8)), np.ones(8)),
         "(6, 3)", "(4, 8)"),
        (lambda: attention.masked_softmax(np.ones((2, 4, 6)), np.ones((2, 6), bool)),
         "(2, 6)", "(2, 4, 6)"),
        (lambda: attention.attend(np.ones((2, 4, 5)), np.ones((2, 6, 5)), np.ones((2, 6, 3)),
                                  mask=np.ones((2, 4, 5), bool)),
         "(2, 4, 5)", "(2, 4, 6)"),
    ],
)
def test_mismatched_shapes_raise_value_error_naming_both(call, first, second):
    with pytest.raises(ValueError) as info:
        call()
    assert first in str(info.value) and second in str(info.value), str(info.value)


def test_too_few_dimensions_and_unknown_score_raise_value_error():
    with pytest.raises(ValueError, match=r"\(\.\.\., T_q, d_q\), got shape \(5,\)"):
        attention.dot_scores(np.ones(5), np.ones((3, 5)))
    with pytest.raises(ValueError, match="unknown score 'cosine'"):
        attention.attend(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), score="cosine")


# -- what Keras users pass (issue 14): mask conventions, NaN, precision, types -------------


CONVENTION = r"True/1 = attend.*`mask = additive_mask == 0`"


@pytest.mark.parametrize("mask", [
    [[0.0, 0.0, -np.inf]],  # additive: 0 = keep, -inf = drop
    [[0.0, 0.0, -1e9]],
    [[1, 1, 2]],
    [[0.5, 1.0, 1.0]],
    [[np.nan, 1.0, 1.0]],
])
def test_masks_other_than_boolean_or_0_1_are_refused(mask):
    """Cast to bool, an additive mask would be read backwards ([[0, 0, 1]] for the first)."""
    with pytest.raises(ValueError, match=CONVENTION):
        attention.masked_softmax([[1.0, 2.0, 3.0]], mask)
    q, k, v = np.ones((1, 4)), np.ones((3, 4)), np.ones((3, 2))
    with pytest.raises(ValueError, match=CONVENTION):
        attention.attend(q, k, v, mask=mask)


def test_an_additive_mask_converted_as_the_error_says_drops_its_minus_inf_positions():
    additive = np.array([[0.0, 0.0, -np.inf]])
    got = np_(attention.masked_softmax([[1.0, 2.0, 3.0]], additive == 0))
    np.testing.assert_allclose(got, [[*np_softmax(np.array([1.0, 2.0])), 0.0]], rtol=1e-6)


@pytest.mark.parametrize("convert", [
    lambda m: m.astype(np.int32), lambda m: m.astype(np.float32), lambda m: m.astype(np.uint8),
    lambda m: m.astype(int).tolist(), lambda m: keras.Variable(m.astype("float32")),
    lambda m: tf.constant(m.astype(np.int64)), lambda m: tf.Variable(m.astype(np.float16)),
], ids=["int32", "float32", "uint8", "list", "keras.Variable", "tf.constant", "tf.Variable"])
def test_0_1_masks_of_any_type_equal_the_boolean_mask(rng, convert):
    scores = rng.normal(size=(2, 3, 5))
    mask = rng.random((2, 1, 5)) < 0.6
    expected = np_(attention.masked_softmax(scores, mask))
    np.testing.assert_array_equal(np_(attention.masked_softmax(scores, convert(mask))), expected)


def test_inside_a_traced_function_a_numeric_mask_must_be_boolean(rng):
    scores = rng.normal(size=(2, 4)).astype("float32")
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]])
    weights = _traced(attention.masked_softmax)
    with pytest.raises(ValueError, match="traced function.*boolean"):
        weights(scores, mask.astype("float32"))
    np.testing.assert_allclose(np_(weights(scores, mask == 1)),
                               np_(attention.masked_softmax(scores, mask)))


@pytest.mark.parametrize("row, expected", [
    ([np.nan, 0.0, 0.0], [np.nan] * 3),  # was [nan, 1, 1]: the row was not normalised
    ([0.0, np.nan, 5.0], [np.nan] * 3),
    ([np.inf, 0.0, 0.0], [np.nan] * 3),  # was [nan, 0, 0]
    ([np.inf, np.inf, 0.0], [np.nan] * 3),
    ([np.inf, -np.inf, np.nan], [np.nan] * 3),
    ([-np.inf, 0.0, 0.0], [0.0, 0.5, 0.5]),
    ([-np.inf] * 3, [0.0] * 3),
])
def test_a_nan_or_plus_inf_score_makes_the_whole_row_nan(row, expected):
    """As scipy.special.softmax and torch.softmax; -inf means weight 0."""
    for dtype in ("float16", "float32", "float64"):
        got = np_(attention.softmax(np.array(row, dtype=dtype)))
        np.testing.assert_array_equal(got, np.array(expected, dtype=dtype))


def test_masked_positions_and_rows_keep_their_zeros_whatever_the_scores():
    scores = np.array([[np.nan, 1.0, 2.0], [np.inf, 1.0, 2.0], [np.nan, np.inf, -np.inf],
                       [0.0, np.nan, 1.0]])
    mask = np.array([[False, True, True], [False, True, True], [False, False, False],
                     [True, True, False]])
    got = np_(attention.masked_softmax(scores, mask))
    np.testing.assert_allclose(got[:2], [[0.0, *np_softmax(np.array([1.0, 2.0]))]] * 2)
    np.testing.assert_array_equal(got[2], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(got[3], [np.nan, np.nan, 0.0])  # attended NaN: row is NaN
    (grad,) = backend.gradients(
        lambda s: keras.ops.sum(keras.ops.multiply(attention.masked_softmax(s, mask[:3]),
                                                   np.array([1.0, 2.0, 3.0]))), [scores[:3]])
    assert np.all(np.isfinite(grad))


def test_a_query_with_nothing_to_attend_to_has_zero_context_even_beside_nan_values():
    q, k = np.ones((2, 3)), np.ones((4, 3))
    values = np.array([[1.0, 2.0], [np.nan, 0.0], [np.inf, 1.0], [3.0, 4.0]])
    mask = np.array([[True, False, False, True], [False] * 4])
    context, weights = attention.attend(q, k, values, mask=mask)
    np.testing.assert_array_equal(np_(weights)[1], 0.0)
    np.testing.assert_array_equal(np_(context)[1], 0.0)


@pytest.mark.parametrize("dtype, big", [("float32", 1e19), ("float64", 8e153)])
def test_scaled_dot_scales_the_query_first_so_fitting_scores_do_not_overflow(dtype, big):
    """q·k = 4 big² overflows; q·k/√4 = 2 big² fits, and so does (q/√4)·k."""
    q = np.full((1, 4), big, dtype=dtype)
    got = np_(attention.scaled_dot_scores(q, q))
    assert got.dtype == dtype and np.isfinite(got).all()
    np.testing.assert_allclose(got, 2 * np.float64(big) ** 2, rtol=1e-6)
    context, weights = attention.attend(q, q, np.ones((1, 2), dtype))
    np.testing.assert_array_equal(np_(weights), [[1.0]])


def test_half_precision_is_summed_in_float32():
    """Sums in float16 overflow at 65504; in bfloat16 (8 bits) 256 + 1 is 256."""
    # 300·300 - 300·300 = 0, but 300·300 is inf in float16: inf - inf = NaN.
    q, k = np.array([[300.0, 300.0]], np.float16), np.array([[300.0, -300.0]], np.float16)
    assert np_(attention.dot_scores(q, k)).tolist() == [[0.0]]
    # 70 000 equal scores: each weight 1/70 000 (a float16 subnormal), not 0 (1/inf).
    got = np_(attention.softmax(np.zeros(70_000, np.float16)))
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, np.float16(1 / 70_000))
    # 1000 equal scores in bfloat16: 0.001, not 1/256.
    got = np_(attention.softmax(keras.ops.zeros(1000, "bfloat16"))).astype(np.float32)
    np.testing.assert_allclose(got, 1e-3, rtol=2 ** -8)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_every_function_returns_its_inputs_dtype(rng, dtype):
    def make(*shape):
        return keras.ops.cast(rng.normal(size=shape), dtype)

    q, k, v = make(2, 3, 4), make(2, 5, 4), make(2, 5, 6)
    mask = rng.random((2, 3, 5)) < 0.7
    results = [
        attention.dot_scores(q, k), attention.scaled_dot_scores(q, k),
        attention.general_scores(q, k, make(4, 4)),
        attention.additive_scores(q, k, make(4, 3), make(4, 3), make(3)),
        attention.softmax(make(3, 5)), attention.masked_softmax(make(2, 3, 5), mask),
        *attention.attend(q, k, v, mask=mask),
        *attention.attend(q, k, v, score="additive", w_q=make(4, 3), w_k=make(4, 3), v=make(3)),
    ]
    for result in results:
        assert keras.backend.standardize_dtype(result.dtype) == dtype


CONTAINERS = {
    "numpy": lambda x: x,
    "list": lambda x: x.tolist(),
    "keras.Variable": keras.Variable,
    "tf.constant": tf.constant,
    "tf.Variable": tf.Variable,
}


@pytest.mark.parametrize("container", sorted(CONTAINERS))
def test_accepts_lists_variables_and_backend_tensors(rng, container):
    wrap = CONTAINERS[container]
    q, k = rng.normal(size=(2, 3, 4)).astype("float32"), rng.normal(size=(2, 5, 4)).astype(
        "float32")
    v, w = rng.normal(size=(2, 5, 2)).astype("float32"), rng.normal(size=(4, 4)).astype(
        "float32")
    w_q, w_k, h = (rng.normal(size=s).astype("float32") for s in ((4, 3), (4, 3), (3,)))
    mask = rng.random((2, 3, 5)) < 0.7
    calls = [
        lambda f: attention.dot_scores(f(q), f(k)),
        lambda f: attention.scaled_dot_scores(f(q), f(k)),
        lambda f: attention.general_scores(f(q), f(k), f(w)),
        lambda f: attention.additive_scores(f(q), f(k), f(w_q), f(w_k), f(h)),
        lambda f: attention.softmax(f(q)),
        lambda f: attention.masked_softmax(f(q[..., :1, :]), f(mask[..., :1, :4])),
        lambda f: attention.attend(f(q), f(k), f(v), mask=f(mask))[0],
    ]
    # (a list of Python floats is float64 on JAX with JAX_ENABLE_X64, float32 elsewhere)
    for call in calls:
        np.testing.assert_allclose(np_(call(wrap)), np_(call(lambda x: x)), rtol=1e-5)


def test_symbolic_keras_tensors_give_symbolic_results():
    q, k, v = keras.Input((3, 4)), keras.Input((5, 4)), keras.Input((5, 2))
    mask = keras.Input((3, 5), dtype="bool")
    context, weights = attention.attend(q, k, v, mask=mask)
    assert tuple(context.shape) == (None, 3, 2) and tuple(weights.shape) == (None, 3, 5)


@pytest.mark.parametrize("call, error, message", [
    (lambda: attention.dot_scores([[1.0, 2.0], [3.0]], [[1.0, 2.0]]), ValueError,
     "query is a nested list whose rows differ in length"),
    (lambda: attention.dot_scores([[1.0, 2.0]], None), TypeError, "keys must be an array.*None"),
    (lambda: attention.softmax(["a", "b"]), TypeError, "x must hold real numbers"),
    (lambda: attention.attend(np.ones((1, 2)), np.ones((3, 2)),
                              np.array([[1.0], [2.0, 3.0], []], dtype=object)),
     ValueError, r"values is a NumPy array of Python objects, shape \(3,\)"),
    (lambda: attention.masked_softmax(np.ones((1, 3)), [[True, False]]), ValueError,
     r"mask of shape \(1, 2\) does not broadcast to the scores' shape \(1, 3\)"),
    (lambda: attention.attend(np.ones((1, 2)), np.ones((3, 2)), np.ones((3, 2)),
                              score=lambda q, k: np.ones((3, 1))), ValueError,
     r"must return shape \(\.\.\., T_q, T_k\) = \(\.\.\., 1, 3\).*got shape \(3, 1\)"),
])
def test_unreadable_inputs_raise_errors_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


# -- the chapters' exercise checks accept right answers and reject typical wrong ones ---------


def _status(exercise_id, answer):
    from attention_course.grading.core import run_checks

    return run_checks(exercise_id, answer).status


def _np_masked_softmax(scores, mask):
    return np_(attention.masked_softmax(scores, mask))


def test_chapter_3_checks():
    def scaled(q, k):
        return q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])

    def scaled_by_length(q, k):
        return q @ np.swapaxes(k, -1, -2) / np.sqrt(k.shape[-2])

    assert _status("ch03.scaled_dot_scores", scaled) == "passed"
    assert _status("ch03.scaled_dot_scores", scaled_by_length) == "failed"
    assert _status("ch03.scaled_dot_scores", lambda q, k: scaled(q, k) * 2) == "failed"

    def additive(q, k, w_q, w_k, v):
        return np_(attention.additive_scores(q, k, w_q, w_k, v))

    def additive_without_tanh(q, k, w_q, w_k, v):
        return ((q @ w_q)[..., :, None, :] + (k @ w_k)[..., None, :, :]) @ v

    assert _status("ch03.additive_scores", additive) == "passed"
    assert _status("ch03.additive_scores", additive_without_tanh) == "failed"

    def cosine_nan_on_zero(q, k):
        with np.errstate(invalid="ignore", divide="ignore"):
            qn = q / np.linalg.norm(q, axis=-1, keepdims=True)
            kn = k / np.linalg.norm(k, axis=-1, keepdims=True)
        return qn @ np.swapaxes(kn, -1, -2)

    result = _status("ch03.cosine_scores", cosine_nan_on_zero)
    assert result == "failed"


def test_chapter_4_checks():
    def naive(x, axis=-1):
        e = np.exp(x)
        return e / e.sum(axis=axis, keepdims=True)

    assert _status("ch04.stable_softmax", lambda x, axis=-1: np_(attention.softmax(x, axis))) \
        == "passed"
    assert _status("ch04.stable_softmax", naive) == "failed"

    def keras_style(scores, mask):  # the "uniform" fully masked row
        return np_(attention.softmax(np.where(mask, scores, scores - 1e9)))

    def zero_after(scores, mask):
        return np.where(mask, np_(attention.softmax(scores)), 0.0)

    assert _status("ch04.masked_softmax", _np_masked_softmax) == "passed"
    assert _status("ch04.masked_softmax", keras_style) == "failed"
    assert _status("ch04.masked_softmax", zero_after) == "failed"

    def jacobian(x):
        p = np_(attention.softmax(x))
        return np.diag(p) - np.outer(p, p)

    assert _status("ch04.softmax_jacobian", jacobian) == "passed"
    assert _status("ch04.softmax_jacobian", lambda x: np.diag(jacobian(x))) == "failed"


def test_plot_attention_heatmap_labels_and_checks_shapes():
    import matplotlib.pyplot as plt

    from attention_course.plots import plot_attention_heatmap

    weights = np.array([[0.25, 0.75, 0.0], [1.0, 0.0, -0.001]])
    fig = plot_attention_heatmap(weights, ["q1", "q2"], ["a", "b", "c"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["q1", "q2"]
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == sorted(["0.25", "0.75", "0.00", "1.00", "0.00", "0.00"])  # no "-0.00"
    plt.close(fig)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        plot_attention_heatmap(weights, ["q1"], ["a", "b", "c"])
