"""The ``attention-course`` command."""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from pathlib import Path

from attention_course import config


def _profile(args: argparse.Namespace) -> int:
    try:
        profile = config.get_profile(args.name)
    except ValueError as err:
        print(f"attention-course: {err}", file=sys.stderr)
        return 2
    print(config.runtime_summary(profile))
    for key, value in profile.as_dict().items():
        print(f"  {key:>11}: {value}")
    return 0


def _course_root(given: str | None) -> Path:
    from attention_course.grading.chapters import find_root

    return find_root(Path(given)) if given else find_root()


def _student(args: argparse.Namespace) -> int:
    from attention_course.grading import chapters, student

    try:
        root = _course_root(args.root)
        files = chapters.resolve_chapters(args.chapters, root)
    except (FileNotFoundError, ValueError) as err:
        print(f"attention-course student: {err}", file=sys.stderr)
        return 2
    status = 0
    for path in files:
        try:
            md, ipynb = student.write_student_version(path, args.output)
        except ValueError as err:
            print(f"attention-course student: {err}", file=sys.stderr)
            status = 1
            continue
        print(f"{path.name}: wrote {md} and {ipynb}")
    return status


def _positive(kind: type):
    """An argparse type: a positive, finite ``kind`` (int or float)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _grade_progress(number: int, total: int, path: Path, result) -> None:
    from attention_course.grading.gradebook import display_name, format_report

    if result is None:
        print(f"[{number}/{total}] grading {display_name(str(path))} ...", file=sys.stderr,
              flush=True)
    elif result.resumed:
        print(f"[{number}/{total}] already in the gradebook: {display_name(str(path))}",
              file=sys.stderr, flush=True)
    else:
        width = min(max(shutil.get_terminal_size().columns, 60), 120)
        print(format_report(result, width=width) + "\n", flush=True)


def _isolation(mode: str) -> str | None:
    """Check the sandbox for ``mode``; print the loud notice when there is none. Returns the
    mode to grade with, or None (after saying why) when ``--sandbox bwrap`` cannot be had."""
    from attention_course.grading import grader
    from attention_course.grading.sandbox import IsolationUnavailable

    try:
        sandbox, why = grader.isolation(mode)
    except IsolationUnavailable as err:
        print(f"attention-course grade: --sandbox bwrap: {err}", file=sys.stderr)
        return None
    if sandbox is None:
        rule = "!" * 78
        notice = grader.isolation_warning(why)
        print(f"{rule}\nWARNING: {notice}\n{rule}", file=sys.stderr, flush=True)
        return "none"
    return "bwrap"


def _grade(args: argparse.Namespace) -> int:
    from attention_course.grading import gradebook, grader

    try:
        root = _course_root(args.root)
    except FileNotFoundError:
        if args.root:
            raise
        root = None  # answers are then found from the submissions' own check calls
    try:
        catalogue = grader.Catalogue(root, hidden=args.hidden, extra=args.checks)
        previous = gradebook.read_json(args.json) if args.resume and Path(args.json).exists() \
            else []
    except (FileNotFoundError, ValueError) as err:
        print(f"attention-course grade: {err}", file=sys.stderr)
        return 2
    files = grader.expand_submissions(args.submissions)
    if not files:
        print("attention-course grade: no .ipynb or .md submissions found", file=sys.stderr)
        return 2
    mode = _isolation(args.sandbox)
    if mode is None:
        return 2
    for output in (args.csv, args.json):
        Path(output).absolute().parent.mkdir(parents=True, exist_ok=True)
    settings = grader.Settings(
        timeout=args.timeout, total_timeout=args.total_timeout,
        profile=None if args.profile == "inherit" else args.profile, chapter=args.chapter,
        sandbox=mode,
    )
    if args.resume:
        print(f"resuming: {len(previous)} submissions in {args.json}", file=sys.stderr)

    def save(results) -> None:  # after each submission: the gradebook so far
        gradebook.write_csv(results, args.csv)
        gradebook.write_json(results, args.json)

    start = time.monotonic()
    results = grader.grade(files, catalogue, settings, _grade_progress, jobs=args.jobs,
                           previous=previous, on_result=save, private=[args.csv, args.json])
    elapsed = time.monotonic() - start
    save(results)
    lines = [f"gradebook: {args.csv}, {args.json}"]
    if args.feedback:
        written = gradebook.write_feedback(results, args.feedback)
        lines.append(f"feedback for students: {args.feedback} ({len(written)} file"
                     + ("s)" if len(written) != 1 else ")"))
    not_graded = sum(not r.graded for r in results)
    resumed = sum(r.resumed for r in results)
    ran = len(results) - resumed
    print(
        f"graded {len(results) - not_graded} of {len(results)} submissions"
        + (f" ({resumed} from the earlier gradebook)" if resumed else "")
        + f" in {elapsed:.1f} s" + (f" ({elapsed / ran:.1f} s each)" if ran else "")
        + "\n" + "\n".join(lines)
    )
    return 1 if not_graded else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attention-course", description="Tools for the course 'Attention, Step by Step'."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    profile = commands.add_parser("profile", help="show the run profile and device in use")
    profile.add_argument("name", nargs="?", help="smoke, cpu or full (default: automatic)")
    profile.set_defaults(func=_profile)

    student = commands.add_parser(
        "student", help="write student versions of chapters (solutions removed)",
        description="Write each chapter with its reference solutions replaced by "
        "`raise NotImplementedError`, as .md and .ipynb.",
    )
    student.add_argument("chapters", nargs="*", metavar="CHAPTER",
                         help="1, 01, ch01, a file stem or a path (default: every chapter)")
    student.add_argument("-o", "--output", required=True, metavar="DIR",
                         help="folder for the student versions")
    student.add_argument("--root", metavar="DIR", help="the course folder (default: found)")
    student.set_defaults(func=_student)

    grade = commands.add_parser(
        "grade", help="grade submissions into a gradebook (CSV + JSON)",
        description="Run each submission in its own isolated kernel, check its answers with "
        "the course's checks (and hidden ones), print a table per submission and write a "
        "gradebook (after each submission).",
    )
    grade.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                       help=".ipynb or .md files, or folders holding them")
    grade.add_argument("--hidden", action="append", default=[], metavar="DIR",
                       help="folder (or file) of hidden checks, kept out of student material")
    grade.add_argument("--checks", action="append", default=[], metavar="DIR",
                       help="folder (or file) of extra public checks")
    grade.add_argument("--timeout", type=_positive(float), default=60, metavar="S",
                       help="seconds per cell and per answer call (default: 60)")
    grade.add_argument("--total-timeout", type=_positive(float), default=900, metavar="S",
                       help="seconds for a whole submission (default: 900)")
    grade.add_argument("--profile", default="smoke",
                       choices=[*config.PROFILES, "inherit"],
                       help="ATTENTION_PROFILE in the grading kernel (default: smoke; "
                       "inherit: leave the environment's)")
    grade.add_argument("--jobs", type=_positive(int), default=1, metavar="N",
                       help="grade N submissions at a time (default: 1)")
    grade.add_argument("--chapter", metavar="CHAPTER",
                       help="grade every submission as this chapter (default: detected)")
    grade.add_argument("--csv", default="gradebook.csv", metavar="F",
                       help="gradebook CSV (default: gradebook.csv)")
    grade.add_argument("--json", default="gradebook.json", metavar="F",
                       help="gradebook JSON with every check's message, hidden ones included: "
                       "for the instructor (default: gradebook.json)")
    grade.add_argument("--resume", action="store_true",
                       help="keep the submissions already in the --json gradebook (unchanged "
                       "since) and grade the rest")
    grade.add_argument("--feedback", metavar="DIR",
                       help="write one feedback file per submission for its student (hidden "
                       "checks as passed/failed only)")
    grade.add_argument("--sandbox", choices=["auto", "bwrap", "none"], default="auto",
                       help="isolate each submission with bubblewrap: auto (where it works, "
                       "else warn and run without), bwrap (or refuse), none")
    grade.add_argument("--root", metavar="DIR", help="the course folder (default: found)")
    grade.set_defaults(func=_grade)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
