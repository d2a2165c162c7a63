"""Checks for chapter 4, "From scores to attention weights"."""

from __future__ import annotations

import warnings

import numpy as np
from keras.ops import convert_to_numpy

from attention_course import attention
from attention_course.grading.ch03 import compare
from attention_course.grading.core import exercise_check


def _random(shape, seed, scale=3.0):
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


def _call_quietly(call: str, func, *args):
    """Call ``func(*args)``; a NumPy warning (overflow, 0/0) fails the check, naming ``call``."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            with np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
                return func(*args)
        except (RuntimeWarning, FloatingPointError) as warning:
            raise AssertionError(f"{call} raised a NumPy warning: {warning}") from None


@exercise_check("ch04.stable_softmax", points=1)
def matches_softmax_on_random_batches(answer):
    for seed, shape in enumerate([(5,), (3, 4), (2, 3, 6)]):
        x = _random(shape, seed)
        for axis in sorted({-1, 0}):
            expected = convert_to_numpy(attention.softmax(x, axis=axis))
            call = f"stable_softmax(x of shape {shape}, axis={axis})"
            compare(call, _call_quietly(call, answer, x, axis), expected)


@exercise_check("ch04.stable_softmax", points=1)
def stable_for_huge_scores_and_minus_infinity(answer):
    cases = {
        "scores of +-1e4": np.array([[1e4, 0.0, -1e4], [1e4, 1e4 - 1, 1e4 - 2]]),
        "scores of -1e4": np.array([[-1e4 - 2, -1e4 - 1, -1e4]]),
        "a row with -inf entries": np.array([[0.5, -np.inf, 2.0, -np.inf]]),
    }
    for name, x in cases.items():
        expected = convert_to_numpy(attention.softmax(x))
        call = f"stable_softmax({name}: {x.tolist()})"
        got = _call_quietly(call, answer, x)
        assert got is not None and np.all(np.isfinite(np.asarray(got, dtype=float))), (
            f"{call} returned non-finite values: {np.asarray(got)}"
        )
        compare(call, got, expected)


def _masked_reference(scores, mask):
    return convert_to_numpy(attention.masked_softmax(scores, mask))


@exercise_check("ch04.masked_softmax", points=1)
def matches_masked_softmax(answer):
    for seed, shape in enumerate([(6,), (4, 6), (2, 3, 6)]):
        scores = _random(shape, seed)
        mask = np.random.default_rng(seed + 100).random(shape) < 0.6
        mask[..., 0] = True
        call = f"masked_softmax(scores {shape}, mask {shape} with {int(mask.sum())} True)"
        got = _call_quietly(call, answer, scores, mask)
        compare(call, got, _masked_reference(scores, mask))
        got = np.asarray(got, dtype=float)
        assert np.all(got[~mask] == 0.0), (
            f"{call}: masked positions must get weight exactly 0, got "
            f"{got[~mask][got[~mask] != 0][:5]}"
        )


@exercise_check("ch04.masked_softmax", points=1)
def fully_masked_row_is_all_zeros(answer):
    scores = _random((3, 5), 7)
    mask = np.array([[True, False, True, True, False], [False] * 5, [True] * 5])
    call = "masked_softmax(scores (3, 5), mask with row 1 all False)"
    got = _call_quietly(call, answer, scores, mask)
    got = np.asarray(got, dtype=float)
    assert np.all(np.isfinite(got)), f"{call} returned non-finite values:\n{got}"
    assert np.array_equal(got[1], np.zeros(5)), (
        f"{call}: a row with nothing to attend to must be all zeros (not NaN, not uniform), "
        f"got {got[1]}"
    )
    compare(call, got, _masked_reference(scores, mask))


@exercise_check("ch04.masked_softmax", points=1)
def broadcasts_a_key_mask_and_handles_huge_scores(answer):
    scores = _random((2, 3, 4), 8) * 1e3
    key_mask = np.array([[True, True, False, False], [False, True, True, True]])[:, None, :]
    call = "masked_softmax(scores (2, 3, 4) of size ~1e3, mask (2, 1, 4))"
    got = _call_quietly(call, answer, scores, key_mask)
    compare(call, got, _masked_reference(scores, key_mask))


@exercise_check("ch04.softmax_jacobian", points=2)
def matches_diag_p_minus_outer(answer):
    for seed, n in enumerate((1, 3, 6)):
        x = _random(n, seed)
        p = convert_to_numpy(attention.softmax(x))
        expected = np.diag(p) - np.outer(p, p)
        call = f"softmax_jacobian({np.round(x, 3).tolist()})"
        compare(call, _call_quietly(call, answer, x), expected)
