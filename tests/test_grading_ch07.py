"""The chapter 7 checks pass correct answers and reject plausible wrong ones."""

import numpy as np
import pytest
from keras import ops

from attention_course import multi_head, positional, self_attention
from attention_course.grading import checks_for
from attention_course.grading.core import run_checks


def causal(x, w_q, w_k, w_v, scale=None, triangle=np.tril):
    q, k, v = x @ w_q, x @ w_k, x @ w_v
    scores = q @ k.T / np.sqrt(w_q.shape[1] if scale is None else scale)
    allowed = triangle(np.ones(scores.shape, bool))
    scores = np.where(allowed, scores, -1e9)  # a large negative number works too
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ v, weights


def package_causal(x, w_q, w_k, w_v):
    output, weights = self_attention.self_attention(x, w_q, w_k, w_v, causal=True)
    return ops.convert_to_numpy(output), ops.convert_to_numpy(weights)


def test_reference_answers_pass():
    assert run_checks("ch07.causal_self_attention", causal).status == "passed"
    assert run_checks("ch07.causal_self_attention", package_causal).status == "passed"
    assert run_checks("ch07.split_heads", lambda x, h: ops.convert_to_numpy(
        multi_head.split_heads(x, h))).status == "passed"
    assert run_checks("ch07.sinusoidal_encoding", lambda n, d: ops.convert_to_numpy(
        positional.sinusoidal_encoding(n, d))).status == "passed"
    for exercise in ("ch07.causal_self_attention", "ch07.split_heads",
                     "ch07.sinusoidal_encoding"):
        assert sum(c.points for c in checks_for(exercise)) == 2


@pytest.mark.parametrize("wrong", [
    # √d_model instead of √d_k: plausible, since x is what goes in.
    lambda x, q, k, v: causal(x, q, k, v, scale=x.shape[1]),
    # The mask transposed: every query sees the future and not the past.
    lambda x, q, k, v: causal(x, q, k, v, triangle=np.triu),
    # No mask at all.
    lambda x, q, k, v: causal(x, q, k, v, triangle=lambda m: np.ones_like(m)),
    # Only the output.
    lambda x, q, k, v: causal(x, q, k, v)[0],
])
def test_wrong_causal_attention_fails(wrong):
    result = run_checks("ch07.causal_self_attention", wrong)
    assert result.status == "failed", result.summary()


def test_wrong_split_heads_fails():
    def plain_reshape(x, num_heads):  # right shape, positions mixed into heads
        b, t, f = x.shape
        return x.reshape(b, num_heads, t, f // num_heads)

    def head_axis_last(x, num_heads):  # (batch, T, heads, d): not moved in front of T
        b, t, f = x.shape
        return x.reshape(b, t, num_heads, f // num_heads)

    for wrong in (plain_reshape, head_axis_last):
        result = run_checks("ch07.split_heads", wrong)
        assert result.status == "failed", result.summary()


def test_wrong_sinusoidal_fails():
    def per_feature_exponent(length, depth):  # 10000^(i/d) for pair i, not 10000^(2i/d)
        table = np.zeros((length, depth))
        frequencies = 10_000.0 ** (-np.arange(depth // 2) / depth)
        table[:, 0::2] = np.sin(np.arange(length)[:, None] * frequencies)
        table[:, 1::2] = np.cos(np.arange(length)[:, None] * frequencies)
        return table

    def concatenated(length, depth):  # right numbers, the other layout
        return ops.convert_to_numpy(positional.sinusoidal_encoding(length, depth,
                                                                   "concatenated"))

    for wrong in (per_feature_exponent, concatenated):
        result = run_checks("ch07.sinusoidal_encoding", wrong)
        assert result.status == "failed", result.summary()
