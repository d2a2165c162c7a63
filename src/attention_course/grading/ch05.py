"""Checks for chapter 5, "Attention on top of an RNN: IMDB sentiment"."""

from __future__ import annotations

import numpy as np

from attention_course.grading.core import context_and_weights, exercise_check

_RNG = np.random.default_rng(5)
_STATES = _RNG.normal(size=(3, 6, 4))
_QUERY = _RNG.normal(size=(4,))
_MASK = np.array([[True] * 4 + [False] * 2, [True] * 6, [False] * 6])


def _reference_pool(states, query, mask):
    """Scaled-dot attention pooling in NumPy: context (batch, d), weights (batch, time)."""
    scores = states @ query / np.sqrt(states.shape[-1])
    scores = np.where(mask, scores, -np.inf)
    peak = np.max(scores, axis=1, keepdims=True)
    exps = np.where(mask, np.exp(scores - np.where(np.isfinite(peak), peak, 0.0)), 0.0)
    totals = exps.sum(axis=1, keepdims=True)
    weights = exps / np.where(totals > 0, totals, 1.0)
    return np.einsum("bt,btd->bd", weights, states), weights


def _pool_result(answer, states, query, mask):
    result = answer(states, query, mask)
    return context_and_weights(
        result, f"attention_pool(states {states.shape}, query {query.shape}, mask {mask.shape})")


@exercise_check("ch05.attention_pool", points=1)
def weights_follow_the_mask(answer):
    context, weights = _pool_result(answer, _STATES, _QUERY, _MASK)
    assert weights.shape == _MASK.shape, (
        f"weights for states of shape {_STATES.shape} should have shape {_MASK.shape}, "
        f"got {weights.shape}"
    )
    assert np.all(np.isfinite(weights)), f"weights contain NaN or inf:\n{weights.round(3)}"
    assert np.all(weights[~_MASK] == 0), (
        f"padding positions (mask False) must get weight exactly 0, got\n{weights.round(3)}"
    )
    totals = weights.sum(axis=1)
    assert np.allclose(totals[:2], 1, atol=1e-6), (
        f"each row with real words should sum to 1 over them, got sums {totals.round(4)}"
    )
    assert np.all(weights[2] == 0) and np.all(np.asarray(context)[2] == 0), (
        "a row whose mask is all False should get zero weights and a zero context, got "
        f"weights {weights[2].round(3)} and context {np.asarray(context)[2].round(3)}"
    )


@exercise_check("ch05.attention_pool", points=1)
def matches_scaled_dot_pooling(answer):
    expected_context, expected_weights = _reference_pool(_STATES, _QUERY, _MASK)
    context, weights = _pool_result(answer, _STATES, _QUERY, _MASK)
    assert context.shape == expected_context.shape, (
        f"context should have shape {expected_context.shape} (batch, d), got {context.shape}"
    )
    assert np.allclose(weights, expected_weights, atol=1e-6), (
        f"weights should be softmax(states @ query / sqrt(d)) over the unmasked positions: "
        f"expected\n{expected_weights.round(4)}\ngot\n{weights.round(4)}"
    )
    assert np.allclose(context, expected_context, atol=1e-6), (
        f"context should be the weighted sum of the states: expected\n"
        f"{expected_context.round(4)}\ngot\n{context.round(4)}"
    )


_VOCABULARY = {1: "[START]", 2: "[OOV]", 4: "the", 5: "film", 6: "was", 7: "great", 8: "fun"}


@exercise_check("ch05.top_k_words", points=1)
def picks_the_most_attended_words(answer):
    ids = np.array([1, 4, 5, 6, 7, 8, 0, 0])
    weights = np.array([0.05, 0.05, 0.2, 0.1, 0.4, 0.2, 0.0, 0.0])
    cases = [(1, ["great"]), (3, ["great", "film", "fun"]), (6, ["great", "film", "fun",
             "was", "[START]", "the"])]
    for k, expected in cases:
        got = answer(weights, ids, k, _VOCABULARY)
        assert list(got) == expected, (
            f"top_k_words(weights={weights.tolist()}, ids={ids.tolist()}, k={k}): expected "
            f"{expected} (largest weight first; ties to the earlier word), got {got!r}"
        )


@exercise_check("ch05.top_k_words", points=1)
def never_picks_padding(answer):
    # Weights from elsewhere may be non-zero on padding: the ids decide what is a word.
    ids = np.array([1, 7, 0, 0])
    weights = np.array([0.3, 0.2, 0.4, 0.1])
    got = answer(weights, ids, 2, _VOCABULARY)
    assert list(got) == ["[START]", "great"], (
        f"top_k_words(weights={weights.tolist()}, ids={ids.tolist()}, k=2) should return the "
        f"two real words ['[START]', 'great'], never padding (id 0), got {got!r}"
    )
