"""Graded exercises: checks per chapter, run from the chapters and by the grader.

A chapter's exercise cell holds a reference solution between ``# BEGIN SOLUTION`` and
``# END SOLUTION``; the next cell calls :func:`check` with the exercise id and the learner's
answer. Checks live in one module per chapter (``grading/ch01.py``, ...), registered with
:func:`exercise_check`.

The tools around them (``attention-course student`` and ``attention-course grade``):
``chapters`` (finding chapters and their exercises), ``student`` (student versions),
``execution`` (running a submission in its own kernel), ``remote`` and ``remote_kernel`` (calling
the student's answers from the grader's process), ``grader`` and ``gradebook``.
"""

from attention_course.grading.core import (
    Check,
    CheckOutcome,
    ExerciseFailed,
    ExerciseResult,
    check,
    checks_for,
    exercise_check,
    exercise_points,
)

__all__ = [
    "Check",
    "CheckOutcome",
    "ExerciseFailed",
    "ExerciseResult",
    "check",
    "checks_for",
    "exercise_check",
    "exercise_points",
]
