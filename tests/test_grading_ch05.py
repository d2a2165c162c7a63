"""The chapter 5 checks pass correct answers and reject wrong ones."""

import numpy as np
import pytest

from attention_course import explanation
from attention_course.grading import checks_for
from attention_course.grading.core import run_checks


def pool(states, query, mask, scale=True, use_mask=True):
    scores = states @ query / (np.sqrt(states.shape[-1]) if scale else 1.0)
    if use_mask:
        scores = np.where(mask, scores, -np.inf)
    peak = scores.max(axis=1, keepdims=True)
    exps = np.exp(scores - np.where(np.isfinite(peak), peak, 0))
    totals = exps.sum(axis=1, keepdims=True)
    weights = exps / np.where(totals > 0, totals, 1)
    return np.einsum("bt,btd->bd", weights, states), weights


def top_k(weights, ids, k, vocabulary):
    return explanation.top_k_words(weights, ids, k, vocabulary)


def test_reference_answers_pass():
    assert run_checks("ch05.attention_pool", pool).status == "passed"
    assert run_checks("ch05.top_k_words", top_k).status == "passed"
    assert sum(c.points for c in checks_for("ch05.attention_pool")) == 2


@pytest.mark.parametrize("wrong", [
    lambda s, q, m: pool(s, q, m, scale=False),
    lambda s, q, m: pool(s, q, m, use_mask=False),
    lambda s, q, m: pool(s, q, m)[1],
])
def test_wrong_pooling_fails(wrong):
    result = run_checks("ch05.attention_pool", wrong)
    assert result.status == "failed", result.summary()


def test_wrong_top_k_fails():
    def with_padding(weights, ids, k, vocabulary):  # ranks padding like any word
        order = np.argsort(-np.asarray(weights), kind="stable")[:k]
        return [vocabulary.get(int(ids[p]), "[PAD]") for p in order]

    def smallest_first(weights, ids, k, vocabulary):
        return list(reversed(top_k(weights, ids, k, vocabulary)))

    for wrong in (with_padding, smallest_first):
        assert run_checks("ch05.top_k_words", wrong).status == "failed"
