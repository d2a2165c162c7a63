"""The gradebook: a table per submission on the terminal, CSV and JSON files for a batch.

CSV: one row per submission, columns ``submission, chapter, graded, earned, points, seconds``
and then one column per exercise id (points earned; empty where a submission's chapter does not
have that exercise). JSON: a list with one object per submission, holding every check's
status and message (the feedback to pass on) and the problems seen while running it.
"""

from __future__ import annotations

import csv
import json
import textwrap
from collections.abc import Sequence
from pathlib import Path

from attention_course.grading.grader import SubmissionResult

FIXED_COLUMNS = ["submission", "chapter", "graded", "earned", "points", "seconds"]
_MESSAGE_LINES = 8


def exercise_columns(results: Sequence[SubmissionResult]) -> list[str]:
    """Every exercise id in the batch, in first-seen order."""
    columns: list[str] = []
    for result in results:
        columns += [e.exercise_id for e in result.exercises if e.exercise_id not in columns]
    return columns


def _wrap(message: str, width: int, max_lines: int = _MESSAGE_LINES) -> list[str]:
    """``message`` wrapped to ``width``, at most ``max_lines`` lines (then a count)."""
    lines = [
        piece
        for line in (message.splitlines() or [""])
        for piece in (textwrap.wrap(line, width, subsequent_indent="  ") or [""])
    ]
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines)"]
    return lines


def format_report(result: SubmissionResult, width: int = 100) -> str:
    """A per-exercise table with the failing checks' messages, problems and the total."""
    head = f"{result.submission}  (chapter {result.chapter or '?'}, {result.seconds:.1f} s)"
    lines = [head]
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
            lines.append(f"      - {label}")
            if o.message:
                lines += [f"        {line}" for line in _wrap(o.message, width - 8)]
    for problem in result.problems:
        lines += [f"  ! {line}" for line in _wrap(problem, width - 4, max_lines=3)]
    total = f"{result.earned:g}/{result.points:g}" if result.graded else "not graded"
    lines.append(f"  {'total':<{name_width}}  {total:>9}")
    return "\n".join(lines)


def write_csv(results: Sequence[SubmissionResult], path: str | Path) -> Path:
    """Write the gradebook CSV (one row per submission, one column per exercise)."""
    path = Path(path)
    columns = exercise_columns(results)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIXED_COLUMNS + columns)
        for r in results:
            earned = {e.exercise_id: f"{e.earned:g}" for e in r.exercises}
            fixed = [r.submission, r.chapter or "", "yes" if r.graded else "no",
                     f"{r.earned:g}", f"{r.points:g}", f"{r.seconds:.1f}"]
            writer.writerow(fixed + [earned.get(c, "") for c in columns])
    return path


def write_json(results: Sequence[SubmissionResult], path: str | Path) -> Path:
    """Write the gradebook JSON: every submission with every check's outcome and message."""
    path = Path(path)
    path.write_text(json.dumps([r.as_dict() for r in results], indent=1) + "\n",
                    encoding="utf-8")
    return path
