"""Self-attention: causal and padding masks, the single-head function against NumPy."""

import numpy as np
import pytest
from keras import ops

from attention_course.self_attention import (
    attention_mask,
    causal_mask,
    self_attention,
    sequence_features,
)

RNG = np.random.default_rng(7)


def numpy_self_attention(x, w_q, w_k, w_v, mask=None, causal=False):
    """Reference: softmax(Q Kᵀ/√d_k) V over the allowed keys, zeros for an empty row."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(w_q.shape[1])
    allowed = np.ones(scores.shape, bool)
    if mask is not None:
        allowed &= mask[..., None, :]
    if causal:
        allowed &= np.tril(np.ones(scores.shape[-2:], bool))
    scores = np.where(allowed, scores, -np.inf)
    peak = scores.max(axis=-1, keepdims=True)
    exps = np.where(allowed, np.exp(scores - np.where(np.isfinite(peak), peak, 0)), 0)
    totals = exps.sum(axis=-1, keepdims=True)
    weights = exps / np.where(totals > 0, totals, 1)
    return weights @ v, weights


def test_causal_mask_is_the_lower_triangle():
    np.testing.assert_array_equal(causal_mask(3), np.tril(np.ones((3, 3), bool)))
    # Rectangular: row index >= column index, as keras.layers.MultiHeadAttention.
    np.testing.assert_array_equal(causal_mask(2, 4), [[1, 0, 0, 0], [1, 1, 0, 0]])
    with pytest.raises(ValueError, match="query_length must be a positive integer"):
        causal_mask(0)
    with pytest.raises(ValueError, match="key_length must be a positive integer"):
        causal_mask(3, 2.5)


def test_attention_mask_combines_like_keras():
    query = np.array([[1, 1, 0], [1, 1, 1]], bool)
    keys = np.array([[1, 0, 0, 0], [1, 1, 1, 0]], bool)
    got = ops.convert_to_numpy(attention_mask(query, keys))
    assert got.shape == (2, 3, 4)
    np.testing.assert_array_equal(got, query[:, :, None] & keys[:, None, :])
    both = ops.convert_to_numpy(attention_mask(query, keys, causal=True))
    np.testing.assert_array_equal(both, got & causal_mask(3, 4))
    only_causal = ops.convert_to_numpy(attention_mask(causal=True, query_length=3))
    np.testing.assert_array_equal(only_causal, causal_mask(3)[None])
    assert attention_mask() is None
    # 0/1 numbers are read as attend/ignore, like booleans.
    np.testing.assert_array_equal(
        ops.convert_to_numpy(attention_mask(None, keys.astype("float32"))), keys[:, None, :])


def test_attention_mask_refuses_wrong_masks():
    with pytest.raises(ValueError, match=r"key_mask must have shape \(batch, T_k\)"):
        attention_mask(key_mask=np.ones((2, 1, 4), bool))
    with pytest.raises(ValueError, match="additive mask"):
        attention_mask(key_mask=np.array([[0.0, -np.inf, 0.0]]))
    with pytest.raises(ValueError, match="same batch size"):
        attention_mask(np.ones((2, 3), bool), np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="needs its length"):
        attention_mask(causal=True)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("use_mask", [False, True])
def test_self_attention_matches_numpy(causal, use_mask):
    x = RNG.normal(size=(3, 5, 6))
    w_q, w_k, w_v = RNG.normal(size=(6, 4)), RNG.normal(size=(6, 4)), RNG.normal(size=(6, 3))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)
    mask = mask if use_mask else None
    output, weights = self_attention(x, w_q, w_k, w_v, mask=mask, causal=causal)
    expected_output, expected_weights = numpy_self_attention(x, w_q, w_k, w_v, mask, causal)
    np.testing.assert_allclose(ops.convert_to_numpy(weights), expected_weights, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(output), expected_output, atol=1e-6)


def test_causal_self_attention_does_not_see_the_future():
    x = RNG.normal(size=(1, 6, 4)).astype("float32")
    w = [RNG.normal(size=(4, 4)).astype("float32") for _ in range(3)]
    before, _ = self_attention(x, *w, causal=True)
    changed = x.copy()
    changed[0, 4:] += 10.0  # rewrite the last two tokens
    after, _ = self_attention(changed, *w, causal=True)
    before, after = ops.convert_to_numpy(before), ops.convert_to_numpy(after)
    np.testing.assert_allclose(after[0, :4], before[0, :4], atol=1e-6)
    assert not np.allclose(after[0, 4:], before[0, 4:])


def test_self_attention_errors_name_the_shapes():
    x = np.zeros((2, 5, 6))
    w = np.zeros((6, 4))
    with pytest.raises(ValueError, match=r"w_q must have shape \(d_model, d\).*\(7, 4\)"):
        self_attention(x, np.zeros((7, 4)), w, w)
    with pytest.raises(ValueError, match="same size d_k"):
        self_attention(x, w, np.zeros((6, 3)), w)
    with pytest.raises(ValueError, match=r"mask must have shape \(\.\.\., T\) = \(2, 5\)"):
        self_attention(x, w, w, w, mask=np.ones((2, 1, 5), bool))
    additive = np.zeros((2, 5))
    additive[:, 3:] = -np.inf  # 0 = keep, -inf = drop: another convention
    with pytest.raises(ValueError, match="additive mask"):
        self_attention(x, w, w, w, mask=additive)


def test_sequence_features_names_the_input():
    assert sequence_features((None, None, 8), "x") == 8
    for shape in ((2, 3), (2, 3, None), (1, 2, 3, 4)):
        with pytest.raises(ValueError, match=r"Layer expects x of shape \(batch, time, "
                           r"features\) with known features, got shape"):
            sequence_features(shape, "Layer expects x")
