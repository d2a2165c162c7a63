"""Hidden checks for chapter 1, as an instructor keeps them (grading-test fixture).

Deliberately registered without ``hidden=True`` on the first check: the grader marks every
check loaded with ``--hidden`` as hidden anyway.
"""

from attention_course.grading import exercise_check


@exercise_check("ch01.oov_rate", points=1)
def HIDDEN_CHECK_MARKER_counts_reviews_without_oov(answer):
    reviews = [[1, 5, 6], [1, 7]]
    got = answer(reviews)
    assert got == 0, f"oov_rate({reviews}): no id is 2, expected 0, got {got!r}"


@exercise_check("ch01.pad_and_mask", points=1, hidden=True)
def keeps_the_first_ids_of_a_long_review(answer):
    padded, mask = answer([[1, 2, 3, 4, 5, 6]], 3)
    assert list(padded[0]) == [1, 2, 3], f"expected [1, 2, 3], got {list(padded[0])}"
