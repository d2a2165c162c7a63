"""The chapter 6 checks pass correct answers and reject wrong but plausible ones."""

import numpy as np
import pytest

from attention_course.grading import checks_for
from attention_course.grading.core import run_checks


def attention_step(state, states, mask, scale=False, use_mask=True):
    scores = states @ state / (np.sqrt(len(state)) if scale else 1.0)
    if use_mask:
        scores = np.where(mask, scores, -np.inf)
    exps = np.exp(scores - scores.max())
    weights = exps / exps.sum()
    return weights @ states, weights


def greedy_decode(step, start_id, end_id, max_length, feed_own=True, include_end=True,
                  keep_state=True):
    token, state, out = start_id, None, []
    for _ in range(max_length):
        logits, new_state = step(token, state)
        state = new_state if keep_state else None
        chosen = int(np.argmax(logits))
        if chosen == end_id and not include_end:
            break
        out.append(chosen)
        if chosen == end_id:
            break
        token = chosen if feed_own else start_id
    return out


def most_attended(weights, source, i, mask_padding=True):
    row = np.asarray(weights)[i]
    if mask_padding:
        row = row[: len(source)]
    j = int(np.argmax(row))
    return j, source[j] if j < len(source) else ""


def test_reference_answers_pass():
    assert run_checks("ch06.attention_step", attention_step).status == "passed"
    assert run_checks("ch06.greedy_decode", greedy_decode).status == "passed"
    assert run_checks("ch06.most_attended", most_attended).status == "passed"
    assert sum(c.points for c in checks_for("ch06.attention_step")) == 2


@pytest.mark.parametrize("wrong", [
    lambda s, h, m: attention_step(s, h, m, scale=True),  # scaled dot, not dot
    lambda s, h, m: attention_step(s, h, m, use_mask=False),  # attends to padding
    lambda s, h, m: attention_step(s, h, m)[1],  # weights only
])
def test_wrong_attention_steps_fail(wrong):
    assert run_checks("ch06.attention_step", wrong).status == "failed"


@pytest.mark.parametrize("options", [
    dict(feed_own=False),  # feeds <start> again: teacher forcing without a teacher
    dict(include_end=False),  # drops <end>
    dict(keep_state=False),  # forgets the decoder state
])
def test_wrong_greedy_loops_fail(options):
    def wrong(step, start_id, end_id, max_length):
        return greedy_decode(step, start_id, end_id, max_length, **options)

    assert run_checks("ch06.greedy_decode", wrong).status == "failed"


def test_wrong_most_attended_fails():
    def with_padding(weights, source, i):
        return most_attended(weights, source, i, mask_padding=False)

    assert run_checks("ch06.most_attended", with_padding).status == "failed"
