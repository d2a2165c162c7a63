"""The exercise-check registry and the ``check`` call chapters make after each exercise."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field


class ExerciseFailed(AssertionError):
    """An answer failed at least one check (raised in the book; recorded by the grader)."""


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


def exercise_check(exercise_id: str, points: float = 1, hidden: bool = False):
    """Register the decorated function as one check of ``exercise_id`` worth ``points``.

    The function receives the learner's answer and raises ``AssertionError`` with a message
    saying what input it tried, what it expected and what came back.
    """

    def register(func: Callable) -> Callable:
        checks = _CHECKS.setdefault(exercise_id, [])
        checks[:] = [c for c in checks if c.name != func.__name__]
        checks.append(Check(exercise_id, func.__name__, float(points), func, hidden))
        return func

    return register


def _chapter_module(exercise_id: str) -> str:
    chapter, _, name = exercise_id.partition(".")
    if not chapter or not name:
        raise ValueError(f"exercise ids look like 'ch04.masked_softmax', got {exercise_id!r}")
    return f"attention_course.grading.{chapter}"


def checks_for(exercise_id: str, include_hidden: bool = True) -> list[Check]:
    """The registered checks of ``exercise_id`` (importing its chapter's module first)."""
    importlib.import_module(_chapter_module(exercise_id))
    checks = _CHECKS.get(exercise_id)
    if not checks:
        raise KeyError(f"no checks registered for exercise {exercise_id!r}")
    return [c for c in checks if include_hidden or not c.hidden]


def exercise_points(exercise_id: str) -> float:
    return sum(c.points for c in checks_for(exercise_id))


def run_checks(exercise_id: str, answer, include_hidden: bool = True) -> ExerciseResult:
    """Run every check of ``exercise_id`` on ``answer``; never raises for a bad answer."""
    result = ExerciseResult(exercise_id)
    for c in checks_for(exercise_id, include_hidden=include_hidden):
        try:
            c.func(answer)
        except NotImplementedError:
            result.outcomes.append(CheckOutcome(c.name, c.points, 0.0, "not attempted"))
        except AssertionError as err:
            result.outcomes.append(CheckOutcome(c.name, c.points, 0.0, "failed", str(err)))
        except Exception as err:  # the answer crashed: report it as the check's failure
            message = f"{type(err).__name__}: {err}"
            result.outcomes.append(CheckOutcome(c.name, c.points, 0.0, "error", message))
        else:
            result.outcomes.append(CheckOutcome(c.name, c.points, c.points, "passed"))
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
