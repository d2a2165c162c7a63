"""The exercise-check registry and the ``check`` call chapters make after each exercise."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np


class ExerciseFailed(AssertionError):
    """An answer failed at least one check (raised in the book; recorded by the grader)."""


class AnswerError(Exception):
    """The learner's code failed while a check used it; the message says how, in full."""


@dataclass(frozen=True)
class Check:
    """One check of an exercise: ``func(answer)`` raises ``AssertionError`` to fail."""

    exercise_id: str
    name: str
    points: float
    func: Callable
    hidden: bool = False


@dataclass
class CheckOutcome:
    name: str
    points: float
    earned: float
    status: str  # "passed", "failed", "not attempted", "error"
    message: str = ""
    hidden: bool = False


@dataclass
class ExerciseResult:
    exercise_id: str
    outcomes: list[CheckOutcome] = field(default_factory=list)

    @property
    def earned(self) -> float:
        return sum(o.earned for o in self.outcomes)

    @property
    def points(self) -> float:
        return sum(o.points for o in self.outcomes)

    @property
    def status(self) -> str:
        statuses = {o.status for o in self.outcomes}
        if statuses == {"passed"}:
            return "passed"
        if statuses == {"not attempted"}:
            return "not attempted"
        return "failed"

    def _ipython_display_(self) -> None:
        """Show nothing as a cell's last value: ``check`` has already printed the summary."""

    def summary(self) -> str:
        head = f"{self.exercise_id}: {self.earned:g}/{self.points:g} points ({self.status})"
        lines = [head]
        for o in self.outcomes:
            if o.status != "passed":
                lines.append(f"  - {o.name}: {o.status}" + (f": {o.message}" if o.message else ""))
        return "\n".join(lines)


_CHECKS: dict[str, list[Check]] = {}
# Where ``exercise_check`` registers: the package's registry, unless ``collecting_checks`` routes
# registrations elsewhere (the grader loads instructors' check files that way).
_TARGETS: list[dict[str, list[Check]]] = [_CHECKS]


def context_and_weights(result, call: str) -> tuple:
    """An attention answer's ``(context, weights)`` as float arrays, or an AssertionError.

    ``call`` describes the call that returned ``result`` (e.g. ``"attention_pool(states
    (2, 4, 3), ...)"``), for the message when the answer returned something else.
    """
    assert isinstance(result, tuple) and len(result) == 2, (
        f"{call} should return a tuple (context, weights), got {type(result).__name__}"
    )
    return tuple(np.asarray(r, dtype=float) for r in result)


def exercise_check(exercise_id: str, points: float = 1, hidden: bool = False):
    """Register the decorated function as one check of ``exercise_id`` worth ``points``.

    The function receives the learner's answer and raises ``AssertionError`` with a message
    saying what input it tried, what it expected and what came back. Checks marked
    ``hidden=True`` belong in an instructor's folder (``attention-course grade --hidden DIR``),
    not in the package.
    """

    def register(func: Callable) -> Callable:
        checks = _TARGETS[-1].setdefault(exercise_id, [])
        checks[:] = [c for c in checks if c.name != func.__name__]
        checks.append(Check(exercise_id, func.__name__, float(points), func, hidden))
        return func

    return register


@contextmanager
def collecting_checks() -> Iterator[dict[str, list[Check]]]:
    """Route ``exercise_check`` registrations into a new dict (yielded) instead of the package's.

    Used to load check files kept outside the package without mixing them into it.
    """
    collected: dict[str, list[Check]] = {}
    _TARGETS.append(collected)
    try:
        yield collected
    finally:
        # By identity: an empty dict compares equal to an empty package registry.
        del _TARGETS[next(i for i, t in enumerate(_TARGETS) if t is collected)]


def chapter_of(exercise_id: str) -> str:
    """The chapter part of an exercise id: ``ch04`` for ``ch04.masked_softmax``."""
    chapter, _, name = exercise_id.partition(".")
    if not chapter or not name:
        raise ValueError(f"exercise ids look like 'ch04.masked_softmax', got {exercise_id!r}")
    return chapter


def import_chapter_checks(chapter: str) -> bool:
    """Import ``attention_course.grading.<chapter>`` (e.g. ``ch01``); False if there is none."""
    module = f"attention_course.grading.{chapter}"
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module:
            raise
        return False
    return True


def registered_exercises(chapter: str) -> list[str]:
    """Ids of the package's registered exercises of ``chapter`` (e.g. ``ch01``), in order."""
    import_chapter_checks(chapter)
    return [exercise_id for exercise_id in list(_CHECKS) if exercise_id.startswith(chapter + ".")]


def checks_for(exercise_id: str, include_hidden: bool = True) -> list[Check]:
    """The registered checks of ``exercise_id`` (importing its chapter's module first)."""
    import_chapter_checks(chapter_of(exercise_id))
    checks = _CHECKS.get(exercise_id)
    if not checks:
        raise KeyError(f"no checks registered for exercise {exercise_id!r}")
    return [c for c in checks if include_hidden or not c.hidden]


def exercise_points(exercise_id: str) -> float:
    return sum(c.points for c in checks_for(exercise_id))


def run_checks(exercise_id: str, answer, include_hidden: bool = True) -> ExerciseResult:
    """Run every check of ``exercise_id`` on ``answer``; never raises for a bad answer."""
    checks = checks_for(exercise_id, include_hidden=include_hidden)
    return run_check_list(exercise_id, checks, answer)


def run_check_list(exercise_id: str, checks: list[Check], answer) -> ExerciseResult:
    """Run the given ``checks`` of ``exercise_id`` on ``answer``; never raises for a bad answer.

    A check that raises ``NotImplementedError`` (the student version's placeholder) scores
    "not attempted", an ``AssertionError`` "failed" (with its message), anything else "error".
    """
    result = ExerciseResult(exercise_id)
    for c in checks:
        try:
            c.func(answer)
        except NotImplementedError:
            outcome = CheckOutcome(c.name, c.points, 0.0, "not attempted", hidden=c.hidden)
        except AssertionError as err:
            outcome = CheckOutcome(c.name, c.points, 0.0, "failed", str(err), hidden=c.hidden)
        except AnswerError as err:
            outcome = CheckOutcome(c.name, c.points, 0.0, "error", str(err), hidden=c.hidden)
        except Exception as err:  # the answer crashed: report it as the check's failure
            message = f"{type(err).__name__}: {err}"
            outcome = CheckOutcome(c.name, c.points, 0.0, "error", message, hidden=c.hidden)
        else:
            outcome = CheckOutcome(c.name, c.points, c.points, "passed", hidden=c.hidden)
        result.outcomes.append(outcome)
    return result


def check(exercise_id: str, answer, *, raise_on_failure: bool = True) -> ExerciseResult:
    """Check a learner's ``answer`` to ``exercise_id`` and print the outcome.

    An answer that raises ``NotImplementedError`` (the student version's placeholder) is
    reported as "not attempted" and does not stop the notebook. A wrong answer raises
    :class:`ExerciseFailed` with every failing check's message, so a book build fails when a
    reference solution is wrong.
    """
    result = run_checks(exercise_id, answer)
    print(result.summary())
    if raise_on_failure and result.status == "failed":
        raise ExerciseFailed(result.summary())
    return result
