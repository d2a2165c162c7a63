"""Checks for chapter 7, "Self-attention and the Transformer"."""

from __future__ import annotations

import numpy as np

from attention_course.grading.core import exercise_check

_RNG = np.random.default_rng(7)
# d_model = 6 differs from d_k = 4: scaling by √d_model instead of √d_k is caught.
_X = _RNG.normal(size=(5, 6))
_W_Q, _W_K, _W_V = _RNG.normal(size=(6, 4)), _RNG.normal(size=(6, 4)), _RNG.normal(size=(6, 3))


def _reference_causal(x, w_q, w_k, w_v):
    """softmax(Q Kᵀ / √d_k) V with key j allowed for query i only when j ≤ i."""
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = q @ k.T / np.sqrt(w_q.shape[1])
    scores = np.where(np.tril(np.ones(scores.shape, bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ v, weights


def _causal_result(answer, x):
    result = answer(x, _W_Q, _W_K, _W_V)
    assert isinstance(result, tuple) and len(result) == 2, (
        f"causal_self_attention(x {x.shape}, w_q {_W_Q.shape}, w_k {_W_K.shape}, w_v "
        f"{_W_V.shape}) should return a tuple (output, weights), got {type(result).__name__}"
    )
    output, weights = (np.asarray(r, dtype=float) for r in result)
    assert weights.shape == (len(x), len(x)), (
        f"weights should have shape (T, T) = {(len(x), len(x))}, got {weights.shape}")
    assert output.shape == (len(x), _W_V.shape[1]), (
        f"output should have shape (T, d_v) = {(len(x), _W_V.shape[1])}, got {output.shape}")
    return output, weights


@exercise_check("ch07.causal_self_attention", points=1)
def never_attends_to_the_future(answer):
    output, weights = _causal_result(answer, _X)
    future = np.triu(np.ones(weights.shape, bool), k=1)
    assert np.all(weights[future] == 0), (
        "query i must give weight exactly 0 to every key j > i (the upper triangle), got\n"
        f"{weights.round(3)}"
    )
    assert np.allclose(weights.sum(axis=1), 1, atol=1e-6), (
        f"each row of weights should sum to 1, got {weights.sum(axis=1).round(4)}")
    changed = _X.copy()
    changed[3:] += 5.0  # rewrite the last two tokens
    later, _ = _causal_result(answer, changed)
    assert np.allclose(later[:3], output[:3], atol=1e-6), (
        "changing tokens 3 and 4 changed the outputs at positions 0-2: the future leaks in"
    )


@exercise_check("ch07.causal_self_attention", points=1)
def matches_scaled_dot_self_attention(answer):
    expected_output, expected_weights = _reference_causal(_X, _W_Q, _W_K, _W_V)
    output, weights = _causal_result(answer, _X)
    assert np.allclose(weights, expected_weights, atol=1e-6), (
        "weights should be the causal softmax of (x W_Q)(x W_K)ᵀ / √d_k with d_k = "
        f"{_W_Q.shape[1]} (the size of a query, not of x): expected\n"
        f"{expected_weights.round(4)}\ngot\n{weights.round(4)}"
    )
    assert np.allclose(output, expected_output, atol=1e-6), (
        f"output should be weights @ (x W_V): expected\n{expected_output.round(4)}\n"
        f"got\n{output.round(4)}"
    )


_HEADS_X = np.arange(2 * 3 * 6, dtype=float).reshape(2, 3, 6)  # (batch 2, T 3, 3 heads × 2)


@exercise_check("ch07.split_heads", points=1)
def split_heads_shape(answer):
    got = np.asarray(answer(_HEADS_X, 3))
    assert got.shape == (2, 3, 3, 2), (
        f"split_heads(x of shape {_HEADS_X.shape}, num_heads=3) should have shape "
        f"(batch, heads, T, d) = (2, 3, 3, 2), got {got.shape}"
    )


@exercise_check("ch07.split_heads", points=1)
def split_heads_keeps_positions_apart(answer):
    got = np.asarray(answer(_HEADS_X, 3))
    for head in range(3):
        expected = _HEADS_X[:, :, 2 * head:2 * head + 2]
        assert got.shape[1:] == (3, 3, 2) and np.array_equal(got[:, head], expected), (
            f"head {head} should hold features {2 * head}-{2 * head + 1} of every position "
            f"(x[:, :, {2 * head}:{2 * head + 2}]), i.e.\n{expected[0]}\nfor the first "
            f"sequence; got\n{got[0, head] if got.ndim == 4 else got}\n(a plain reshape "
            "without moving the head axis mixes positions into a head)"
        )
    other = np.asarray(answer(_HEADS_X[:1, :, :4], 2))
    assert other.shape == (1, 2, 3, 2), (
        f"split_heads(x of shape (1, 3, 4), num_heads=2) should have shape (1, 2, 3, 2), got "
        f"{other.shape}"
    )


def _reference_sinusoidal(length, depth):
    positions = np.arange(length)[:, None]
    frequencies = 10_000.0 ** (-np.arange(0, depth, 2) / depth)
    table = np.zeros((length, depth))
    table[:, 0::2] = np.sin(positions * frequencies)
    table[:, 1::2] = np.cos(positions * frequencies)
    return table


@exercise_check("ch07.sinusoidal_encoding", points=1)
def sinusoidal_first_rows(answer):
    got = np.asarray(answer(3, 4), dtype=float)
    assert got.shape == (3, 4), (
        f"sinusoidal_encoding(3, 4) should have shape (3, 4), got {got.shape}")
    assert np.allclose(got[0], [0, 1, 0, 1], atol=1e-6), (
        "position 0 should be [sin 0, cos 0, sin 0, cos 0] = [0, 1, 0, 1] (sines at even "
        f"features, cosines at odd ones), got {got[0].round(4)}"
    )


@exercise_check("ch07.sinusoidal_encoding", points=1)
def sinusoidal_matches_the_paper(answer):
    for length, depth in ((10, 8), (50, 16)):
        got = np.asarray(answer(length, depth), dtype=float)
        expected = _reference_sinusoidal(length, depth)
        assert got.shape == expected.shape and np.allclose(got, expected, atol=1e-5), (
            f"sinusoidal_encoding({length}, {depth}) should be PE[pos, 2i] = "
            f"sin(pos / 10000^(2i/{depth})), PE[pos, 2i+1] = cos(…); row 1 should be\n"
            f"{expected[1].round(4)}\ngot\n{got[1].round(4) if got.ndim == 2 else got}"
        )
