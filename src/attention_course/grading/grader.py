"""Grading submissions: run each in its own kernel, check its answers, score every exercise.

For each submission (an ``.ipynb`` or a MyST ``.md``):

Every submission is read into memory before any of them runs (what one submission does to
another's file cannot change how that one is graded). Then, for each:

1. find its chapter (``--chapter``, else the student version's metadata, else the exercise ids
   it mentions, else its file name);
2. run it as it is, cell by cell, in a fresh kernel (:mod:`.execution`) -- isolated with
   bubblewrap where it works (:mod:`.sandbox`) --, errors and timeouts recorded, never
   stopping the run;
3. for each exercise of the chapter -- the ids registered by the package's checks, by extra
   check files, and by the instructor's hidden check files -- fetch the student's answer
   from the kernel (by the expression the chapter's ``check`` call names, e.g.
   ``pad_and_mask``) and run every check on it here, in the grader's process
   (:mod:`.remote`), so the submission cannot change its own score, and the hidden checks
   never enter the sandbox.

Checks of different submissions run one at a time (Python's warning filters, which checks
may change, are shared by the whole process); the notebooks themselves run ``jobs`` at a time.
Every message a submission influences is capped (:mod:`.bounded_text`). A submission that
cannot be read, or whose kernel does not start, scores 0 with a message; one bad file never
stops a batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import math
import secrets
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from attention_course.grading import core
from attention_course.grading.bounded_text import cap
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
from attention_course.grading.sandbox import Bubblewrap, IsolationUnavailable, bubblewrap
from attention_course.grading.student import METADATA_KEY

SUBMISSION_SUFFIXES = (".ipynb", ".md")
MAX_KERNELS = 3
MAX_SUBMISSION_BYTES = 50 * 2**20
MAX_MESSAGE_CHARS = 2000
"""A check's message, as recorded (it may quote what the answer returned)."""
MAX_PROBLEM_CHARS = 1000
MAX_PROBLEMS = 30
SANDBOX_MODES = ("auto", "bwrap", "none")
_CHECKING = threading.Lock()


class IsolationWarning(UserWarning):
    """Submissions are graded without isolation (bubblewrap missing or not working)."""


@dataclass(frozen=True)
class Settings:
    """How submissions are run: per-cell (and per-answer-call) and whole-notebook limits in
    seconds, the run profile for the kernel (``None``: the grader's own environment decides),
    the chapter key when it should not be detected, the output kept per cell, and the
    isolation: ``"auto"`` (bubblewrap where it works, else none with an
    :class:`IsolationWarning`), ``"bwrap"`` (bubblewrap or refuse) or ``"none"``.

    Raises ``ValueError`` for a limit that is not a positive number or an unknown mode.
    """

    timeout: float = 60.0
    total_timeout: float = 900.0
    profile: str | None = "smoke"
    chapter: str | None = None
    max_output_chars: int = 100_000
    sandbox: str = "auto"

    def __post_init__(self) -> None:
        for name in ("timeout", "total_timeout", "max_output_chars"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.sandbox not in SANDBOX_MODES:
            raise ValueError(f"sandbox must be one of {', '.join(SANDBOX_MODES)}, "
                             f"got {self.sandbox!r}")


def isolation(mode: str) -> tuple[Bubblewrap | None, str | None]:
    """The sandbox for ``mode`` (see :class:`Settings`) and, when there is none, why.

    Raises :class:`~attention_course.grading.sandbox.IsolationUnavailable` for ``"bwrap"``
    when bubblewrap cannot be used here.
    """
    if mode == "none":
        return None, "isolation is turned off (sandbox 'none')"
    try:
        return bubblewrap(), None
    except IsolationUnavailable as err:
        if mode == "bwrap":
            raise
        return None, str(err)


def isolation_warning(why: str) -> str:
    """The loud notice printed once when submissions run without isolation."""
    return (
        f"submissions will run WITHOUT isolation: {why}. Each one can read and write your "
        "files (hidden checks, the gradebook, other submissions) and leave processes behind. "
        "Grade work you do not trust on Linux with bubblewrap installed, or in a throwaway "
        "account or container (see the grading page of the book)."
    )


@dataclass
class Submission:
    """A submitted file, read into memory (``data``) before any submission runs; ``error``
    says why it could not be read."""

    path: Path
    data: bytes | None
    sha256: str = ""
    error: str | None = None


def read_submission(path: str | Path) -> Submission:
    """Read a submission's bytes (at most ``MAX_SUBMISSION_BYTES``); never raises."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SUBMISSION_BYTES + 1)
    except OSError as err:
        return Submission(path, None, error=f"cannot read {path}: {err.strerror or err}")
    digest = hashlib.sha256(data).hexdigest()
    if len(data) > MAX_SUBMISSION_BYTES:
        return Submission(path, None, digest, f"{path} is larger than "
                          f"{MAX_SUBMISSION_BYTES // 2**20} MiB; not graded")
    return Submission(path, data, digest)


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
    sha256: str = ""
    """Of the file as graded: ``--resume`` re-grades a file that changed since."""
    isolation: str = ""
    """``bubblewrap`` or ``none``: how the submission ran."""
    resumed: bool = field(default=False, compare=False)
    """Taken from an earlier gradebook rather than graded in this run (not saved)."""

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
            "sha256": self.sha256,
            "isolation": self.isolation,
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

    @classmethod
    def from_dict(cls, entry: dict) -> SubmissionResult:
        """The result :meth:`as_dict` wrote (a gradebook JSON entry); ``ValueError`` if the
        entry is not one."""
        try:
            exercises = [
                ExerciseResult(exercise_id, [CheckOutcome(**o) for o in data["checks"]])
                for exercise_id, data in entry["exercises"].items()
            ]
            return cls(
                str(entry["submission"]), entry["chapter"], bool(entry["graded"]), exercises,
                [str(p) for p in entry["problems"]], float(entry["seconds"]),
                str(entry.get("sha256", "")), str(entry.get("isolation", "")),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as err:
            raise ValueError(f"not a gradebook entry ({type(err).__name__}: {err})") from None


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
        self.hidden_paths = tuple(Path(p).absolute() for p in hidden)
        """Where the hidden checks are: never shown to a sandboxed submission."""
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


def _bounded(result: ExerciseResult) -> ExerciseResult:
    for outcome in result.outcomes:
        outcome.message = cap(outcome.message, MAX_MESSAGE_CHARS)
    return result


def _score(exercise: GradedExercise, channel: AnswerChannel) -> ExerciseResult:
    """Fetch the answer and run the exercise's checks, one submission at a time: a check's
    warning filters must not leak into another's. Warnings that would be shown are dropped
    (their text is the submission's); a filter a check sets still applies."""
    channel.reset()
    with _CHECKING, warnings.catch_warnings(record=True):
        try:
            answer = channel.answer(exercise.answer)
        except NotImplementedError:
            return _unscored(exercise, "not attempted", "")
        except AnswerError as err:
            message = f"could not get `{exercise.answer}` from the submission: {err}"
            return _bounded(_unscored(exercise, "error", message))
        return _bounded(run_check_list(exercise.exercise_id, list(exercise.checks), answer))


def _add_problems(problems: list[str], new: Iterable[str]) -> None:
    for problem in new:
        problem = cap(problem, MAX_PROBLEM_CHARS)
        if problem in problems:
            continue
        if len(problems) == MAX_PROBLEMS:
            problems.append("(more problems not listed)")
        if len(problems) <= MAX_PROBLEMS:
            problems.append(problem)


def _run_and_score(
    submission: Submission, notebook, exercises: list[GradedExercise], settings: Settings,
    problems: list[str], sandbox: Bubblewrap | None, hide: Sequence[Path],
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
            skip=frozenset(skip), sandbox=sandbox, hide=hide,
            files={submission.path.name: submission.data},
        ) as kernel:
            kernel.run()
            _add_problems(problems, map(str, kernel.problems))
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


def _grade_one(
    submission: Submission, catalogue: Catalogue, settings: Settings,
    sandbox: Bubblewrap | None, hide: Sequence[Path] = (),
) -> SubmissionResult:
    start = time.monotonic()
    path = submission.path
    result = SubmissionResult(str(path), None, graded=False, sha256=submission.sha256,
                              isolation="bubblewrap" if sandbox else "none")

    def finish(problem: str | None = None) -> SubmissionResult:
        if problem:
            _add_problems(result.problems, [problem])
        result.seconds = time.monotonic() - start
        return result

    if submission.data is None:
        return finish(submission.error or f"cannot read {path}")
    try:
        notebook = read_notebook(path, submission.data)
    except ValueError as err:
        return finish(str(err))
    key = catalogue.identify(notebook, path, settings.chapter)
    exercises = catalogue.exercises(key, notebook) if key else []
    result.chapter = key
    if not exercises:
        return finish(
            f"cannot tell which chapter {path.name} answers (no known exercise ids in it); "
            "pass --chapter"
            if key is None
            else f"chapter {key} has no exercises with checks"
        )
    try:
        result.exercises = _run_and_score(
            submission, notebook, exercises, settings, result.problems, sandbox, hide
        )
    except Exception as err:  # the kernel did not start, or a bug: score 0, say why
        message = cap(f"the submission could not be run: {type(err).__name__}: {err}",
                      MAX_PROBLEM_CHARS)
        result.exercises = [_unscored(e, "error", message) for e in exercises]
        return finish(message)
    result.graded = True
    return finish()


def grade_submission(
    path: str | Path, catalogue: Catalogue, settings: Settings = Settings()
) -> SubmissionResult:
    """Run and score one submission. Never raises for anything the submission does.

    Raises :class:`~attention_course.grading.sandbox.IsolationUnavailable` only when
    ``settings.sandbox`` is ``"bwrap"`` and bubblewrap cannot be used.
    """
    sandbox, _ = isolation(settings.sandbox)
    return _grade_one(read_submission(path), catalogue, settings, sandbox,
                      hide=(Path(path).absolute(), *catalogue.hidden_paths))


def expand_submissions(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and the ``.ipynb``/``.md`` files inside folders (sorted)."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix in SUBMISSION_SUFFIXES)
        else:
            out.append(path)
    return out


def _grade_safely(submission: Submission, *args) -> SubmissionResult:
    try:
        return _grade_one(submission, *args)
    except Exception as err:  # a grader bug must not stop the batch either
        result = SubmissionResult(str(submission.path), None, graded=False,
                                  sha256=submission.sha256)
        result.problems.append(cap(f"grading failed: {type(err).__name__}: {err}",
                                   MAX_PROBLEM_CHARS))
        return result


def grade(
    paths: Iterable[str | Path],
    catalogue: Catalogue,
    settings: Settings = Settings(),
    progress: Callable[[int, int, Path, SubmissionResult | None], None] | None = None,
    jobs: int = 1,
    *,
    previous: Iterable[SubmissionResult] = (),
    on_result: Callable[[list[SubmissionResult]], None] | None = None,
    private: Iterable[str | Path] = (),
) -> list[SubmissionResult]:
    """Grade every submission, ``jobs`` at a time (each in its own kernel); results in the
    order given.

    Every file is read before any submission runs. ``progress(i, n, path, result)`` is called
    when submission ``i`` of ``n`` starts (result None) and when it is done. ``previous``
    holds results of an earlier run (``--resume``): a submission whose path and contents
    (SHA-256) match one of them is not run again, its earlier result is returned with
    ``resumed`` set. ``on_result(results)`` is called after each submission with every result
    so far, in the order given (the command rewrites the gradebook then). ``private`` paths
    (the gradebook's files) are kept out of a sandbox's view like the hidden checks and the
    submissions. Without isolation in ``"auto"`` mode, an :class:`IsolationWarning` is issued.

    Raises ``ValueError`` for ``jobs < 1``, and
    :class:`~attention_course.grading.sandbox.IsolationUnavailable` in ``"bwrap"`` mode when
    bubblewrap cannot be used.
    """
    if not (isinstance(jobs, int) and jobs >= 1):
        raise ValueError(f"jobs must be a positive whole number, got {jobs!r}")
    files = expand_submissions(paths)
    submissions = [read_submission(path) for path in files]  # all of them before any runs
    sandbox, why = isolation(settings.sandbox)
    if sandbox is None and settings.sandbox == "auto":
        warnings.warn(isolation_warning(why), IsolationWarning, stacklevel=2)
    hide = (*(p.absolute() for p in files), *catalogue.hidden_paths,
            *(Path(p).absolute() for p in private))
    earlier = {(r.submission, r.sha256): r for r in previous}
    results: list[SubmissionResult | None] = [None] * len(files)
    lock = threading.Lock()

    def one(index: int, submission: Submission) -> SubmissionResult:
        number = index + 1
        found = earlier.get((str(submission.path), submission.sha256))
        if found is not None and submission.data is not None:
            result = dataclasses.replace(found, resumed=True)
        else:
            if progress:
                with lock:
                    progress(number, len(files), submission.path, None)
            result = _grade_safely(submission, catalogue, settings, sandbox, hide)
        with lock:
            results[index] = result
            if on_result:
                on_result([r for r in results if r is not None])
            if progress:
                progress(number, len(files), submission.path, result)
        return result

    if jobs == 1:
        return [one(index, s) for index, s in enumerate(submissions)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, index, s) for index, s in enumerate(submissions)]
        return [future.result() for future in futures]
