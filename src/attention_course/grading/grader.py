"""Grading submissions: run each in its own kernel, check its answers, score every exercise.

For each submission (an ``.ipynb`` or a MyST ``.md``):

1. find its chapter (``--chapter``, else the student version's metadata, else the exercise ids
   it mentions, else its file name);
2. run it as it is, cell by cell, in a fresh kernel (:mod:`.execution`), errors and timeouts
   recorded, never stopping the run;
3. for each exercise of the chapter -- the ids registered by the package's checks, by extra
   check files, and by the instructor's hidden check files -- fetch the student's answer
   from the kernel (by the expression the chapter's ``check`` call names, e.g.
   ``pad_and_mask``) and run every check on it here, in the grader's process
   (:mod:`.remote`), so the submission cannot change its own score.

A submission that cannot be read, or whose kernel does not start, scores 0 with a message;
one bad file never stops a batch.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from attention_course.grading import core
from attention_course.grading.chapters import (
    EXERCISE_ID,
    chapter_index,
    check_calls,
    key_from_name,
    read_notebook,
)
from attention_course.grading.core import (
    AnswerError,
    Check,
    CheckOutcome,
    ExerciseResult,
    run_check_list,
)
from attention_course.grading.execution import SubmissionKernel
from attention_course.grading.remote import AnswerChannel
from attention_course.grading.student import METADATA_KEY

SUBMISSION_SUFFIXES = (".ipynb", ".md")
MAX_KERNELS = 3


@dataclass(frozen=True)
class Settings:
    """How submissions are run: per-cell (and per-answer-call) and whole-notebook limits in
    seconds, the run profile for the kernel (``None``: the grader's own environment decides),
    the chapter key when it should not be detected, and the output kept per cell."""

    timeout: float = 60.0
    total_timeout: float = 900.0
    profile: str | None = "smoke"
    chapter: str | None = None
    max_output_chars: int = 100_000


@dataclass(frozen=True)
class GradedExercise:
    """An exercise as the grader scores it: its checks and where the answer is found."""

    exercise_id: str
    answer: str
    checks: tuple[Check, ...]


@dataclass
class SubmissionResult:
    """The score of one submission, with every check's outcome and the problems seen."""

    submission: str
    chapter: str | None
    graded: bool
    exercises: list[ExerciseResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def earned(self) -> float:
        return sum(e.earned for e in self.exercises)

    @property
    def points(self) -> float:
        return sum(e.points for e in self.exercises)

    def as_dict(self) -> dict:
        return {
            "submission": self.submission,
            "chapter": self.chapter,
            "graded": self.graded,
            "earned": self.earned,
            "points": self.points,
            "seconds": round(self.seconds, 1),  # as the table and the CSV show it
            "problems": list(self.problems),
            "exercises": {
                e.exercise_id: {
                    "earned": e.earned,
                    "points": e.points,
                    "status": e.status,
                    "checks": [dataclasses.asdict(o) for o in e.outcomes],
                }
                for e in self.exercises
            },
        }


def load_check_files(paths: Iterable[str | Path], hidden: bool) -> dict[str, list[Check]]:
    """Checks registered by Python files (or every ``*.py`` in folders), kept out of the
    package's registry. With ``hidden=True`` every check found is marked hidden.

    Raises ``ValueError`` naming a file that is missing or fails to import.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(path.glob("*.py"))
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"check file or folder {path} does not exist")
    with core.collecting_checks() as found:
        for file in files:
            name = f"_attention_course_checks_{secrets.token_hex(6)}"
            spec = importlib.util.spec_from_file_location(name, file)
            try:
                spec.loader.exec_module(importlib.util.module_from_spec(spec))
            except Exception as err:
                message = f"cannot load checks from {file}: {type(err).__name__}: {err}"
                raise ValueError(message) from err
    if hidden:
        found = {k: [dataclasses.replace(c, hidden=True) for c in v] for k, v in found.items()}
    return found


class Catalogue:
    """Every exercise the grader knows, per chapter, and where each answer is found.

    Checks come from the package (``attention_course.grading.chNN``), from ``extra`` check
    files and from ``hidden`` check files (marked hidden). Answer expressions come from the
    chapter's own ``check`` calls in ``root/book`` when the chapter is there.
    """

    def __init__(
        self,
        root: Path | None = None,
        hidden: Iterable[str | Path] = (),
        extra: Iterable[str | Path] = (),
    ) -> None:
        self.root = Path(root) if root is not None else None
        self.extra = load_check_files(extra, hidden=False)
        self.hidden = load_check_files(hidden, hidden=True)
        self._sources = chapter_index(self.root) if self.root is not None else {}
        for key in self._sources:  # import every chapter's checks before any submission runs
            core.import_chapter_checks(key)

    def knows(self, key: str) -> bool:
        return bool(self._checks(key))

    def _checks(self, key: str) -> dict[str, list[Check]]:
        found: dict[str, list[Check]] = {}
        for exercise_id in core.registered_exercises(key):
            found.setdefault(exercise_id, []).extend(core.checks_for(exercise_id))
        for registry in (self.extra, self.hidden):
            for exercise_id, checks in registry.items():
                if exercise_id.startswith(key + "."):
                    found.setdefault(exercise_id, []).extend(checks)
        return found

    def chapter_source(self, key: str) -> Path | None:
        return self._sources.get(key)

    def exercises(self, key: str, submission=None) -> list[GradedExercise]:
        """The exercises of chapter ``key`` in the chapter's order, with their answers."""
        checks = self._checks(key)
        answers: dict[str, str] = {}
        if submission is not None:  # used only when the chapter's source is not at hand
            answers.update({c.exercise_id: c.answer for c in check_calls(submission)})
            recorded = submission.metadata.get(METADATA_KEY, {})
            recorded = recorded.get("answers") if isinstance(recorded, dict) else None
            if isinstance(recorded, dict):
                answers.update({k: v for k, v in recorded.items() if isinstance(v, str)})
        order: list[str] = []
        source = self.chapter_source(key)
        if source is not None:
            calls = check_calls(read_notebook(source))
            answers.update({c.exercise_id: c.answer for c in calls})
            order = [c.exercise_id for c in calls]
        order += [i for i in checks if i not in order]
        return [
            GradedExercise(i, answers.get(i, i.partition(".")[2]), tuple(checks[i]))
            for i in order
            if i in checks
        ]

    def identify(self, notebook, path: Path, forced: str | None = None) -> str | None:
        """The chapter key of a submission, or None when nothing points to a known chapter."""
        if forced:
            return key_from_name(forced) or forced
        recorded = notebook.metadata.get(METADATA_KEY)
        if isinstance(recorded, dict) and isinstance(recorded.get("chapter"), str):
            if self.knows(recorded["chapter"]):
                return recorded["chapter"]
        text = "\n".join(c.source for c in notebook.cells if isinstance(c.get("source"), str))
        mentioned = Counter(m.group(1) for m in EXERCISE_ID.finditer(text))
        for key, _ in mentioned.most_common():
            if self.knows(key):
                return key
        key = key_from_name(path.name)
        return key if key and self.knows(key) else None


def _unscored(exercise: GradedExercise, status: str, message: str) -> ExerciseResult:
    result = ExerciseResult(exercise.exercise_id)
    for c in exercise.checks:
        result.outcomes.append(CheckOutcome(c.name, c.points, 0.0, status, message, c.hidden))
    return result


def _score(exercise: GradedExercise, channel: AnswerChannel) -> ExerciseResult:
    channel.reset()
    try:
        answer = channel.answer(exercise.answer)
    except NotImplementedError:
        return _unscored(exercise, "not attempted", "")
    except AnswerError as err:
        message = f"could not get `{exercise.answer}` from the submission: {err}"
        return _unscored(exercise, "error", message)
    return run_check_list(exercise.exercise_id, list(exercise.checks), answer)


def _run_and_score(
    notebook, exercises: list[GradedExercise], settings: Settings, problems: list[str]
) -> list[ExerciseResult]:
    """Run the notebook and score each exercise, in as many kernels as it takes.

    A cell that kills its kernel (or hangs it beyond an interrupt) is skipped in a fresh
    kernel, and an answer that kills its kernel costs only its own exercise: the next
    exercises are scored in a fresh kernel. At most ``MAX_KERNELS`` kernels, all within the
    submission's ``total_timeout``.
    """
    deadline = time.monotonic() + settings.total_timeout
    skip: set[int] = set()
    scored: dict[str, ExerciseResult] = {}
    pending = list(exercises)
    for _ in range(MAX_KERNELS):
        remaining = deadline - time.monotonic()
        if not pending or remaining <= 0:
            break
        with SubmissionKernel(
            notebook, timeout=settings.timeout, total_timeout=remaining,
            profile=settings.profile, max_output_chars=settings.max_output_chars,
            skip=frozenset(skip),
        ) as kernel:
            kernel.run()
            problems += [str(p) for p in kernel.problems if str(p) not in problems]
            if kernel.fatal_cell is not None and kernel.fatal_cell not in skip:
                skip.add(kernel.fatal_cell)  # try again without it
                continue
            channel = AnswerChannel(kernel, settings.timeout, deadline - time.monotonic())
            while pending and kernel.usable:
                exercise = pending.pop(0)
                scored[exercise.exercise_id] = _score(exercise, channel)
    for exercise in pending:
        scored[exercise.exercise_id] = _unscored(
            exercise, "error", "not checked: the submission's kernels kept dying or hanging"
        )
    return [scored[e.exercise_id] for e in exercises]


def grade_submission(
    path: str | Path, catalogue: Catalogue, settings: Settings = Settings()
) -> SubmissionResult:
    """Run and score one submission. Never raises for anything the submission does."""
    start = time.monotonic()
    path = Path(path)
    result = SubmissionResult(str(path), None, graded=False)
    try:
        notebook = read_notebook(path)
    except ValueError as err:
        result.problems.append(str(err))
        result.seconds = time.monotonic() - start
        return result
    key = catalogue.identify(notebook, path, settings.chapter)
    exercises = catalogue.exercises(key, notebook) if key else []
    result.chapter = key
    if not exercises:
        result.problems.append(
            f"cannot tell which chapter {path.name} answers (no known exercise ids in it); "
            "pass --chapter"
            if key is None
            else f"chapter {key} has no exercises with checks"
        )
        result.seconds = time.monotonic() - start
        return result
    try:
        result.exercises = _run_and_score(notebook, exercises, settings, result.problems)
    except Exception as err:  # the kernel did not start, or a bug: score 0, say why
        message = f"the submission could not be run: {type(err).__name__}: {err}"
        result.problems.append(message)
        result.exercises = [_unscored(e, "error", message) for e in exercises]
    else:
        result.graded = True
    result.seconds = time.monotonic() - start
    return result


def expand_submissions(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and the ``.ipynb``/``.md`` files inside folders (sorted)."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix in SUBMISSION_SUFFIXES)
        else:
            out.append(path)
    return out


def _grade_safely(path: Path, catalogue: Catalogue, settings: Settings) -> SubmissionResult:
    try:
        return grade_submission(path, catalogue, settings)
    except Exception as err:  # a grader bug must not stop the batch either
        result = SubmissionResult(str(path), None, graded=False)
        result.problems.append(f"grading failed: {type(err).__name__}: {err}")
        return result


def grade(
    paths: Iterable[str | Path],
    catalogue: Catalogue,
    settings: Settings = Settings(),
    progress: Callable[[int, int, Path, SubmissionResult | None], None] | None = None,
    jobs: int = 1,
) -> list[SubmissionResult]:
    """Grade every submission, ``jobs`` at a time (each in its own kernel); results in the
    order given. ``progress(i, n, path, result)`` is called when submission ``i`` of ``n``
    starts (result None) and when it is done."""
    files = expand_submissions(paths)
    lock = threading.Lock()

    def one(number: int, path: Path) -> SubmissionResult:
        if progress:
            with lock:
                progress(number, len(files), path, None)
        result = _grade_safely(path, catalogue, settings)
        if progress:
            with lock:
                progress(number, len(files), path, result)
        return result

    if jobs <= 1:
        return [one(number, path) for number, path in enumerate(files, start=1)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, n, path) for n, path in enumerate(files, start=1)]
        return [future.result() for future in futures]
