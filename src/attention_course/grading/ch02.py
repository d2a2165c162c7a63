"""Checks for chapter 2, "A basic RNN"."""

from __future__ import annotations

import numpy as np

from attention_course.data import OOV, pad_reviews
from attention_course.grading.core import exercise_check
from attention_course.rnn import simple_rnn_forward


def _random_rnn(batch, steps, features, units, seed):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(batch, steps, features)),
            rng.normal(scale=0.5, size=(features, units)),
            rng.normal(scale=0.5, size=(units, units)),
            rng.normal(scale=0.5, size=units))


def _states(answer, x, w, u, b):
    got = answer(x, w, u, b)
    assert got is not None, "rnn_forward returned None: return the states array"
    got = np.asarray(got, dtype=np.float64)
    expected = simple_rnn_forward(x, w, u, b, return_sequences=True)
    assert got.shape == expected.shape, (
        f"rnn_forward on inputs {x.shape}, kernel {w.shape}: expected every state, shape "
        f"(batch, time, units) = {expected.shape}, got {got.shape}"
    )
    return got, expected


@exercise_check("ch02.rnn_forward", points=2)
def matches_the_recurrence(answer):
    x, w, u, b = _random_rnn(batch=3, steps=6, features=4, units=5, seed=0)
    got, expected = _states(answer, x, w, u, b)
    worst = np.abs(got - expected).max(axis=(0, 2))
    bad = np.flatnonzero(worst > 1e-6)
    assert bad.size == 0, (
        f"rnn_forward on inputs {x.shape}: states differ from tanh(x_t W + h_(t-1) U + b) "
        f"first at step t={bad[0] if bad.size else ''} (largest difference per step: "
        f"{np.array2string(worst, precision=3)}); check the order of the matrix products, "
        "the bias, and that h_0 is zeros"
    )


@exercise_check("ch02.rnn_forward", points=1)
def handles_a_single_review_and_a_single_step(answer):
    for batch, steps in ((1, 9), (2, 1)):
        x, w, u, b = _random_rnn(batch, steps, features=3, units=2, seed=batch + steps)
        got, expected = _states(answer, x, w, u, b)
        assert np.allclose(got, expected, atol=1e-6), (
            f"rnn_forward on inputs of shape {x.shape}: expected\n{np.round(expected, 4)}\n"
            f"got\n{np.round(got, 4)}"
        )


_REVIEWS = [[1, 14, 22, 16, 43], [1, 5, 9999, 12000], [1, 7], []]
_LABELS = [1, 0, 1, 0]


@exercise_check("ch02.prepare_reviews", points=2)
def pads_truncates_and_clips_ids(answer):
    maxlen, num_words = 4, 30
    result = answer(_REVIEWS, _LABELS, maxlen, num_words)
    assert isinstance(result, tuple) and len(result) == 2, (
        f"prepare_reviews should return a tuple (x, y), got {type(result).__name__}"
    )
    x, y = (np.asarray(r) for r in result)
    clipped = [[w if w < num_words else OOV for w in review] for review in _REVIEWS]
    expected = pad_reviews(clipped, maxlen)
    assert x.shape == expected.shape, (
        f"prepare_reviews({_REVIEWS}, ..., maxlen={maxlen}): x should have shape "
        f"{expected.shape}, got {x.shape}"
    )
    assert np.issubdtype(x.dtype, np.integer), f"x should hold integer ids, got {x.dtype}"
    assert np.array_equal(x, expected), (
        f"prepare_reviews({_REVIEWS}, ..., maxlen={maxlen}, num_words={num_words}): expected "
        f"x =\n{expected}\ngot\n{x}\n(keep the first maxlen ids, pad with 0 at the end, "
        f"and map ids >= num_words to the OOV id {OOV})"
    )
    assert y.shape == (len(_LABELS),) and y.dtype == np.float32, (
        f"y should be float32 of shape ({len(_LABELS)},), got {y.dtype} {y.shape}"
    )
    assert np.array_equal(y, np.asarray(_LABELS, dtype=np.float32)), (
        f"y should hold the labels {_LABELS}, got {y.tolist()}"
    )
