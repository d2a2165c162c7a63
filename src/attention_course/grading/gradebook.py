"""The gradebook: a table per submission on the terminal, CSV and JSON files for a batch, and
feedback files for students.

CSV: one row per submission, columns ``submission, chapter, graded, earned, points, seconds``
and then one column per exercise id (points earned; empty where a submission's chapter does not
have that exercise). JSON: a list with one object per submission, holding every check's
status and message -- hidden checks' included, so it is for the instructor -- and the problems
seen while running it; ``--resume`` reads it back. Both are replaced atomically (written to a
temporary file, then renamed) after each submission, so a grader that dies leaves the
gradebook of everything graded so far.

Feedback (:func:`write_feedback`): one text file per submission, for its student: every public
check with its message, hidden checks as "passed" or "failed" only.

Text from the submission (messages, problems, its file name) is shown with control characters
escaped and wrapped in linear time (:mod:`.bounded_text`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from attention_course.grading.bounded_text import escape_controls, safe_file_name, wrap
from attention_course.grading.grader import SubmissionResult

FIXED_COLUMNS = ["submission", "chapter", "graded", "earned", "points", "seconds"]
MAX_NAME_CHARS = 200
"""A submission's name as tables and feedback show it."""
_PROBLEM_LINES = 4


def exercise_columns(results: Sequence[SubmissionResult]) -> list[str]:
    """Every exercise id in the batch, in first-seen order."""
    columns: list[str] = []
    for result in results:
        columns += [e.exercise_id for e in result.exercises if e.exercise_id not in columns]
    return columns


def _shown(text: str, width: int, max_lines: int | None = None) -> list[str]:
    """``text`` escaped and wrapped to ``width``; with ``max_lines``, cut after that many."""
    lines = wrap(escape_controls(text), width)
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines)"]
    return lines


def display_name(submission: str) -> str:
    """A submission's path as shown: control characters escaped, at most ``MAX_NAME_CHARS``."""
    name = escape_controls(submission, keep_newlines=False)
    if len(name) > MAX_NAME_CHARS:
        half = MAX_NAME_CHARS // 2
        name = f"{name[:half]}...{name[-half:]}"
    return name


def format_report(result: SubmissionResult, width: int = 100) -> str:
    """A per-exercise table with the failing checks' messages (whole: they are capped when
    recorded), problems and the total."""
    where = f"chapter {result.chapter or '?'}, {result.seconds:.1f} s"
    if result.resumed:
        where += ", from the earlier gradebook"
    lines = [f"{display_name(result.submission)}  ({where})"]
    name_width = max([len(e.exercise_id) for e in result.exercises] + [len("exercise")])
    if result.exercises:
        lines.append(f"  {'exercise':<{name_width}}  {'points':>9}  status")
    for e in result.exercises:
        score = f"{e.earned:g}/{e.points:g}"
        lines.append(f"  {e.exercise_id:<{name_width}}  {score:>9}  {e.status}")
        for o in e.outcomes:
            if o.status == "passed":
                continue
            label = f"{o.name}{' (hidden)' if o.hidden else ''}: {o.status}"
            lines.append(f"      - {escape_controls(label, keep_newlines=False)}")
            if o.message:
                lines += [f"        {line}" for line in _shown(o.message, width - 8)]
    for problem in result.problems:
        lines += [f"  ! {line}" for line in _shown(problem, width - 4, _PROBLEM_LINES)]
    total = f"{result.earned:g}/{result.points:g}" if result.graded else "not graded"
    lines.append(f"  {'total':<{name_width}}  {total:>9}")
    return "\n".join(lines)


def _replace(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically: a temporary file beside it, then a rename."""
    path = Path(path)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (renamed, or removed on error)
        "w", encoding="utf-8", newline="", dir=path.parent or ".",
        prefix=f".{path.name}.", suffix=".tmp", delete=False,
    )
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path


def write_csv(results: Sequence[SubmissionResult], path: str | Path) -> Path:
    """Write the gradebook CSV (one row per submission, one column per exercise), atomically."""
    columns = exercise_columns(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FIXED_COLUMNS + columns)
    for r in results:
        earned = {e.exercise_id: f"{e.earned:g}" for e in r.exercises}
        fixed = [r.submission, r.chapter or "", "yes" if r.graded else "no",
                 f"{r.earned:g}", f"{r.points:g}", f"{r.seconds:.1f}"]
        writer.writerow(fixed + [earned.get(c, "") for c in columns])
    return _replace(Path(path), buffer.getvalue())


def write_json(results: Sequence[SubmissionResult], path: str | Path) -> Path:
    """Write the gradebook JSON (every check's outcome and message, hidden ones included; for
    the instructor), atomically."""
    return _replace(Path(path), json.dumps([r.as_dict() for r in results], indent=1) + "\n")


def read_json(path: str | Path) -> list[SubmissionResult]:
    """The results in a gradebook JSON that :func:`write_json` wrote (for ``--resume``).

    Raises ``ValueError`` naming the file when it is not such a gradebook.
    """
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(entries, list):
            raise ValueError("expected a list of submissions")
        return [SubmissionResult.from_dict(entry) for entry in entries]
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot resume from {path}: {err}") from None


def feedback_text(result: SubmissionResult, width: int = 90) -> str:
    """The feedback for the student who handed in ``result``'s submission.

    Every check with its status; a public check's message in full (it quotes only what the
    student's own code did); hidden checks numbered, as "passed" or "failed" only, never their
    names, messages or inputs. Then the problems seen while running the notebook.
    """
    lines = [f"Feedback on {display_name(Path(result.submission).name)}"
             + (f" (chapter {result.chapter})" if result.chapter else "")]
    if not result.graded:
        lines.append("Not graded.")
    else:
        lines.append(f"Total: {result.earned:g}/{result.points:g} points")
    hidden = 0
    for e in result.exercises:
        lines += ["", f"{e.exercise_id}: {e.earned:g}/{e.points:g} points ({e.status})"]
        for o in e.outcomes:
            if o.hidden:
                hidden += 1
                status = "passed" if o.status == "passed" else "failed"
                lines.append(f"  - hidden check {hidden}: {status}")
                continue
            lines.append(f"  - {escape_controls(o.name, keep_newlines=False)}: {o.status}")
            if o.message and o.status != "passed":
                lines += [f"      {line}" for line in _shown(o.message, width - 6)]
    if result.problems:
        lines += ["", "Problems while running the notebook:"]
        for problem in result.problems:
            lines += [f"  ! {line}" for line in _shown(problem, width - 4)]
    return "\n".join(lines) + "\n"


def feedback_names(results: Sequence[SubmissionResult]) -> list[str]:
    """A distinct, plain file name for each submission's feedback: its path below the folder
    all submissions share, made plain (``alice.ipynb.feedback.txt``, or
    ``group-a_alice.ipynb.feedback.txt`` for submissions from several folders)."""
    paths = [Path(r.submission).absolute() for r in results]
    common = os.path.commonpath([p.parent for p in paths]) if paths else ""
    names: list[str] = []
    for path in paths:
        base = safe_file_name(str(path.relative_to(common)), limit=100)
        name, number = f"{base}.feedback.txt", 1
        while name in names:
            number += 1
            name = f"{base}-{number}.feedback.txt"
        names.append(name)
    return names


def write_feedback(results: Sequence[SubmissionResult], folder: str | Path) -> list[Path]:
    """Write :func:`feedback_text` of each result into ``folder`` (created); return the files.

    Raises ``ValueError`` when ``folder`` exists and is not a folder.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    return [_replace(folder / name, feedback_text(r))
            for name, r in zip(feedback_names(results), results, strict=True)]
