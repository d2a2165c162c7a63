"""Checks for chapter 1, "The IMDB reviews"."""

from __future__ import annotations

import numpy as np

from attention_course.data import pad_reviews
from attention_course.grading.core import exercise_check

_REVIEWS = [[1, 14, 22, 16], [1, 5], [1, 7, 8, 9, 10, 11, 12], []]


def _describe(value) -> str:
    return np.array2string(np.asarray(value), separator=", ") if value is not None else "None"


@exercise_check("ch01.pad_and_mask", points=2)
def pads_and_truncates_at_the_end(answer):
    maxlen = 5
    result = answer(_REVIEWS, maxlen)
    assert isinstance(result, tuple) and len(result) == 2, (
        f"pad_and_mask({_REVIEWS}, {maxlen}) should return a tuple (padded, mask), "
        f"got {type(result).__name__}"
    )
    padded, mask = (np.asarray(r) for r in result)
    expected = pad_reviews(_REVIEWS, maxlen, padding="post", truncating="post")
    assert padded.shape == expected.shape, (
        f"padded matrix for {len(_REVIEWS)} reviews and maxlen={maxlen} should have shape "
        f"{expected.shape}, got {padded.shape}"
    )
    assert np.array_equal(padded, expected), (
        f"pad_and_mask({_REVIEWS}, {maxlen}): expected padded\n{_describe(expected)}\n"
        f"got\n{_describe(padded)}"
    )
    assert mask.dtype == bool, f"the mask should be boolean, got dtype {mask.dtype}"
    assert np.array_equal(mask, expected != 0), (
        f"mask should be True on real tokens, False on padding: expected\n"
        f"{_describe(expected != 0)}\ngot\n{_describe(mask)}"
    )


@exercise_check("ch01.oov_rate", points=1)
def counts_out_of_vocabulary_share(answer):
    reviews = [[1, 2, 5, 2], [1, 9, 2], [1]]
    expected = 3 / 8
    got = answer(reviews)
    assert got is not None and np.isfinite(got), f"oov_rate({reviews}) returned {got!r}"
    assert abs(float(got) - expected) < 1e-9, (
        f"oov_rate({reviews}): 3 of the 8 ids are the OOV id 2, expected {expected}, got {got}"
    )
