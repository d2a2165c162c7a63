"""Checks for chapter 6, "Encoder–decoder with attention"."""

from __future__ import annotations

import numpy as np

from attention_course.grading.core import context_and_weights, exercise_check

_RNG = np.random.default_rng(6)
_STATES = _RNG.normal(size=(7, 4))  # (T, d): the encoder states, keys and values
_STATE = _RNG.normal(size=(4,))  # (d,): the decoder state, the query
_MASK = np.array([True] * 5 + [False] * 2)  # the last two positions are padding


def _reference_step(state, states, mask):
    """Dot-score attention of one query in NumPy: context (d,), weights (T,)."""
    scores = np.where(mask, states @ state, -np.inf)
    exps = np.where(mask, np.exp(scores - scores[mask].max()), 0.0)
    weights = exps / exps.sum()
    return weights @ states, weights


def _step_result(answer, state, states, mask):
    result = answer(state, states, mask)
    return context_and_weights(
        result, f"attention_step(state {state.shape}, states {states.shape}, mask {mask.shape})")


@exercise_check("ch06.attention_step", points=1)
def weights_are_a_distribution_over_real_positions(answer):
    context, weights = _step_result(answer, _STATE, _STATES, _MASK)
    assert weights.shape == _MASK.shape, (
        f"weights should have one entry per encoder state, shape {_MASK.shape}, "
        f"got {weights.shape}")
    assert context.shape == _STATE.shape, (
        f"the context should have the states' size, shape {_STATE.shape}, got {context.shape}")
    assert np.all(np.isfinite(weights)), f"weights contain NaN or inf: {weights.round(3)}"
    assert np.all(weights[~_MASK] == 0), (
        f"padding positions (mask False) must get weight exactly 0, got {weights.round(3)}")
    assert np.isclose(weights.sum(), 1, atol=1e-6), (
        f"the weights should sum to 1, got {weights.sum():.4f}")


@exercise_check("ch06.attention_step", points=1)
def matches_dot_score_attention(answer):
    for seed in range(3):
        rng = np.random.default_rng(60 + seed)
        states, state = rng.normal(size=(6, 3)) * 2, rng.normal(size=(3,))
        mask = np.array([True, True, False, True, True, False])
        expected_context, expected_weights = _reference_step(state, states, mask)
        context, weights = _step_result(answer, state, states, mask)
        assert np.allclose(weights, expected_weights, atol=1e-6), (
            "weights should be the softmax of the dot scores state · h_j over the real "
            f"positions (no scaling): expected {expected_weights.round(4)}, got "
            f"{weights.round(4)}")
        assert np.allclose(context, expected_context, atol=1e-6), (
            f"the context should be Σ_j a_j h_j: expected {expected_context.round(4)}, got "
            f"{context.round(4)}")


# A toy decoder over the ids 0-5 (0 = padding, 1 = <start>, 2 = <end>): its next token is
# NEXT[previous token], and after `limit` steps it says <end>. Teacher forcing would feed the
# true tokens; greedy decoding must feed back its own choice.
_NEXT = {1: 3, 3: 5, 5: 4, 4: 2, 2: 2}


class _ToyStep:
    """One step of the toy decoder: ``(token, state) -> (logits over the 6 ids, new state)``.

    A class at module level, not a closure: the grader pickles it into the student's kernel,
    where the student's ``greedy_decode`` calls it.
    """

    def __init__(self, limit=10, cycle=False):
        self.table = dict(_NEXT)
        if cycle:
            self.table[4] = 3  # 3 -> 5 -> 4 -> 3 -> ...: never <end>
        self.limit = limit

    def __call__(self, token, state):
        count = 0 if state is None else state
        best = 2 if count >= self.limit else self.table[int(token)]
        logits = np.full(6, -1.0)
        logits[best] = 1.0
        logits[0] = 0.5  # padding is never the argmax but tempting for an off-by-one
        return logits, count + 1


def _toy_step(limit=10, cycle=False):
    return _ToyStep(limit, cycle)


def _greedy_result(answer, step, max_length):
    result = answer(step, 1, 2, max_length)
    return [int(t) for t in result]


@exercise_check("ch06.greedy_decode", points=1)
def feeds_back_its_own_tokens_and_stops_at_end(answer):
    got = _greedy_result(answer, _toy_step(), 10)
    assert got == [3, 5, 4, 2], (
        "greedy_decode(step, start_id=1, end_id=2, max_length=10) on a decoder whose next "
        f"token follows {_NEXT} should return [3, 5, 4, 2] (its own tokens fed back, stopping "
        f"after <end>), got {got}")


@exercise_check("ch06.greedy_decode", points=1)
def stops_at_max_length(answer):
    got = _greedy_result(answer, _toy_step(cycle=True, limit=100), 7)
    assert got == [3, 5, 4, 3, 5, 4, 3], (
        "a decoder that never says <end> must stop after max_length=7 tokens: expected "
        f"[3, 5, 4, 3, 5, 4, 3], got {got}")
    got = _greedy_result(answer, _toy_step(cycle=True, limit=2), 10)
    assert got == [3, 5, 2], (
        "the decoder's state must be passed from step to step (this one says <end> after "
        f"2 steps): expected [3, 5, 2], got {got}")


_WEIGHTS = np.array([
    [0.1, 0.6, 0.1, 0.1, 0.05, 0.05, 0.0],
    [0.2, 0.2, 0.3, 0.3, 0.0, 0.0, 0.0],
    [0.05, 0.05, 0.1, 0.1, 0.1, 0.0, 0.6],  # most weight on padding (from elsewhere)
])
_SOURCE = "3 Mar"  # 5 characters; columns 5 and 6 are padding


@exercise_check("ch06.most_attended", points=1)
def finds_the_most_attended_input_character(answer):
    for row, expected in ((0, (1, " ")), (1, (2, "M"))):
        got = tuple(answer(_WEIGHTS, _SOURCE, row))
        assert got == expected, (
            f"most_attended(weights, {_SOURCE!r}, {row}) with weights row "
            f"{_WEIGHTS[row].tolist()} should return {expected} (largest weight, ties to the "
            f"earlier position), got {got}")


@exercise_check("ch06.most_attended", points=1)
def never_picks_padding(answer):
    got = tuple(answer(_WEIGHTS, _SOURCE, 2))
    assert got == (2, "M"), (
        f"row 2 puts most weight on padding (column 6, beyond the {len(_SOURCE)} characters "
        f"of {_SOURCE!r}); only real characters count: expected (2, 'M'), got {got}")
