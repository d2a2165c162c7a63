"""Checks for chapter 3, "Alignment scores": answers are compared with ``attention_course``."""

from __future__ import annotations

import numpy as np
from keras.ops import convert_to_numpy

from attention_course import attention
from attention_course.grading.core import exercise_check

# Batch shapes of several ranks; T_q, T_k and the feature sizes all differ, so that a swapped
# axis shows up as a wrong shape or value.
BATCH_SHAPES = [(), (2,), (2, 3)]
T_Q, T_K, D_Q, D_K, H = 3, 5, 4, 6, 7


def _random(shape, seed):
    return np.random.default_rng(seed).normal(size=shape)


def compare(call: str, got, expected, atol: float = 1e-6) -> None:
    """Assert ``got`` equals ``expected`` (shape and values), with a message naming ``call``.

    ``atol`` 1e-6: on JAX and PyTorch Keras computes some float64 ops (tanh, exp) in float32,
    so the references agree with a NumPy answer to about 1e-7; wrong answers are off by far
    more.
    """
    expected = np.asarray(expected)
    assert got is not None, f"{call} returned None; expected an array of shape {expected.shape}"
    got = np.asarray(got, dtype=float)
    assert got.shape == expected.shape, (
        f"{call}: expected an array of shape {expected.shape}, got shape {got.shape}"
    )
    if not np.allclose(got, expected, atol=atol, rtol=1e-6):
        where = np.unravel_index(np.argmax(np.abs(got - expected)), got.shape)
        raise AssertionError(
            f"{call}: wrong values; at index {tuple(int(i) for i in where)} expected "
            f"{expected[where]:.6g}, got {got[where]:.6g}"
        )


@exercise_check("ch03.scaled_dot_scores", points=2)
def matches_scaled_dot_scores(answer):
    for seed, batch in enumerate(BATCH_SHAPES):
        query = _random((*batch, T_Q, D_Q), seed)
        keys = _random((*batch, T_K, D_Q), seed + 10)
        expected = convert_to_numpy(attention.scaled_dot_scores(query, keys))
        compare(f"scaled_dot_scores(query {query.shape}, keys {keys.shape})",
                answer(query, keys), expected)


@exercise_check("ch03.additive_scores", points=3)
def matches_additive_scores(answer):
    w_q, w_k, v = _random((D_Q, H), 1), _random((D_K, H), 2), _random(H, 3)
    for seed, batch in enumerate(BATCH_SHAPES):
        query = _random((*batch, T_Q, D_Q), seed)
        keys = _random((*batch, T_K, D_K), seed + 10)
        expected = convert_to_numpy(attention.additive_scores(query, keys, w_q, w_k, v))
        compare(
            f"additive_scores(query {query.shape}, keys {keys.shape}, w_q {w_q.shape}, "
            f"w_k {w_k.shape}, v {v.shape})",
            answer(query, keys, w_q, w_k, v), expected,
        )


def _cosine_reference(query, keys):
    def unit(x):
        norm = np.linalg.norm(x, axis=-1, keepdims=True)
        return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)

    return convert_to_numpy(attention.dot_scores(unit(query), unit(keys)))


@exercise_check("ch03.cosine_scores", points=1)
def matches_cosine_similarity(answer):
    for seed, batch in enumerate(BATCH_SHAPES):
        query = _random((*batch, T_Q, D_Q), seed) * np.arange(1, T_Q + 1)[:, None]
        keys = _random((*batch, T_K, D_Q), seed + 10)
        compare(f"cosine_scores(query {query.shape}, keys {keys.shape})",
                answer(query, keys), _cosine_reference(query, keys))


@exercise_check("ch03.cosine_scores", points=1)
def zero_vectors_give_zero_not_nan(answer):
    query = _random((T_Q, D_Q), 5)
    keys = _random((T_K, D_Q), 6)
    query[1] = 0.0
    keys[2] = 0.0
    got = answer(query, keys)
    assert got is not None and np.all(np.isfinite(np.asarray(got, dtype=float))), (
        "cosine_scores with a zero query (row 1) and a zero key (row 2) returned non-finite "
        f"values:\n{np.asarray(got)}"
    )
    compare("cosine_scores with zero vectors", got, _cosine_reference(query, keys))
