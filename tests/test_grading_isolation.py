"""The grader against a hostile class: replies that would make it allocate, submissions that
reach for the grader's folder, the hidden checks, a classmate's file, the network, or leave
processes behind; a grader killed half-way; and checks that must give the book's verdict.

Each test runs one to three kernels of small generated notebooks (seconds each).
"""

from __future__ import annotations

import ast
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pytest

from attention_course.cli import main
from attention_course.grading import chapters, core, grader, remote
from attention_course.grading.execution import SubmissionKernel
from attention_course.grading.grader import Catalogue, GradedExercise, Settings, grade
from attention_course.grading.sandbox import IsolationUnavailable, bubblewrap

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "grading_fixtures"
COURSE = FIXTURES / "course"
HIDDEN = FIXTURES / "hidden"
SUBMISSIONS = FIXTURES / "submissions"


def _sandbox_missing() -> str | None:
    try:
        bubblewrap()
    except IsolationUnavailable as err:
        return str(err)
    return None


WHY_NO_SANDBOX = _sandbox_missing()
needs_sandbox = pytest.mark.skipif(WHY_NO_SANDBOX is not None,
                                   reason=f"no sandbox here: {WHY_NO_SANDBOX}")


def notebook(*cells: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])


def write(path: Path, *cells: str) -> Path:
    nbformat.write(notebook(*cells), path)
    return path


def processes_with(marker: str) -> list[str]:
    """Command lines of running processes that contain ``marker`` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "stat").read_text().split(") ")[-1][0] != "Z":
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if marker in cmdline:
                    found.append(cmdline)
        except OSError:
            continue
    return found


# -- 1. a reply cannot make the grader allocate ---------------------------------------------------


EVIL = """
import base64, json, struct
import numpy as np


class Evil(np.float64):
    def __reduce__(self):  # pickled, this allocates 1 GB wherever it is unpickled
        return (bytearray, (10**9,))


def evil():
    return Evil(0.375)


def hijack():
    '''Replace the grader's channel in this kernel by one that claims a 1 GB array.'''
    header = json.dumps({"status": "ok", "warnings": [], "value": {
        "t": "array", "dtype": "<f8", "shape": [125_000_000], "n": 10**9}}).encode()
    reply = base64.b64encode(b"ACR1" + struct.pack(">I", len(header)) + header).decode()
    for name, value in list(globals().items()):
        if name.startswith("_grader_channel_") and isinstance(value, dict):
            value["serve"] = lambda payload: reply
    return "hijacked"
"""


def test_replies_cannot_make_the_grader_allocate():
    with SubmissionKernel(notebook(EVIL), timeout=20) as kernel:
        assert kernel.run() == []
        channel = remote.AnswerChannel(kernel, call_timeout=20, total_timeout=120)
        evil = channel.answer("evil")
        tracemalloc.start()
        try:
            value = evil()
            assert type(value) is np.float64 and value == 0.375  # the base type, no bytearray
            assert channel.answer("hijack")() == "hijacked"
            with pytest.raises(core.AnswerError, match="more bytes than the reply holds"):
                channel.answer("evil")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 10 * 2**20, f"the grader allocated {peak:,} bytes for 50-byte replies"


# -- 3. a submission reaches outside itself --------------------------------------------------------


ATTACK = """
import json, os, socket, subprocess, sys
found = {{}}
cmdlines = []
for pid in os.listdir("/proc"):
    try:
        if pid.isdigit():
            with open(f"/proc/{{pid}}/cmdline", "rb") as f:
                cmdlines.append(f.read().replace(b"\\0", b" ").decode(errors="replace"))
    except OSError:
        pass
found["processes"] = len(cmdlines)
found["sees_grader"] = any("pytest" in c or "--hidden" in c for c in cmdlines)
for name, path in {{"hidden": {hidden!r}, "victim": {victim!r}}}.items():
    try:
        with open(path) as f:
            found[name] = f.read()[:60]
    except OSError as err:
        found[name] = type(err).__name__
try:
    with open({victim!r}, "w") as f:
        f.write("{{}}")
    found["victim_written"] = True
except OSError as err:
    found["victim_written"] = type(err).__name__
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    found["network"] = "connected"
except OSError as err:
    found["network"] = type(err).__name__
late = f"import time; time.sleep(1); open({gradebook!r}, 'w').write('forged')"
subprocess.Popen(["sleep", "1000.4242"], start_new_session=True)
subprocess.Popen([sys.executable, "-c", late], start_new_session=True)


def pad_and_mask(reviews, maxlen):
    raise RuntimeError(json.dumps(found))
"""


def attack(tmp_path: Path) -> tuple[Path, Path, Path, socket.socket]:
    """An attacker and its classmate (graded after it), a gradebook path and a listener."""
    victim = tmp_path / "victim.ipynb"
    victim.write_bytes((SUBMISSIONS / "partly_right.ipynb").read_bytes())
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    book = tmp_path / "gradebook.csv"
    book.write_text("real\n")
    source = ATTACK.format(hidden=str(HIDDEN / "ch01_hidden.py"), victim=str(victim),
                           port=listener.getsockname()[1], gradebook=str(book))
    attacker = write(tmp_path / "attacker.ipynb", source)
    return attacker, victim, book, listener


def findings(result) -> dict:
    message = result.exercises[0].outcomes[0].message
    return json.loads(message[message.index("{"):])


@needs_sandbox
def test_sandboxed_submission_sees_nothing_of_the_grader_and_leaves_nothing(tmp_path):
    attacker, victim, book, listener = attack(tmp_path)
    pristine = victim.read_bytes()
    catalogue = Catalogue(COURSE, hidden=[HIDDEN])
    settings = Settings(timeout=20, sandbox="bwrap", chapter="ch01")
    bad, good = grade([attacker, victim], catalogue, settings, private=[book])
    seen = findings(bad)
    assert bad.isolation == good.isolation == "bubblewrap"
    assert seen["processes"] < 10 and seen["sees_grader"] is False, seen
    assert seen["hidden"] == seen["victim"] == seen["victim_written"] == "FileNotFoundError"
    assert seen["network"] in ("OSError", "ConnectionRefusedError"), seen  # no route out
    assert victim.read_bytes() == pristine
    assert good.earned == 4 and good.problems == []  # as partly_right always scores
    with pytest.raises(TimeoutError):
        listener.accept()
    time.sleep(2)  # the late writer would have written by now
    assert book.read_text() == "real\n"
    assert processes_with("1000.4242") == []


def test_without_a_sandbox_files_are_read_first_and_the_notice_is_given(tmp_path, monkeypatch):
    """Where bubblewrap is missing: the loud warning, every file read before any runs (the
    classmate's score stands though its file was overwritten), descendants killed."""

    def unavailable():
        raise IsolationUnavailable("bubblewrap (bwrap) is not installed")

    monkeypatch.setattr(grader, "bubblewrap", unavailable)
    attacker, victim, book, listener = attack(tmp_path)
    catalogue = Catalogue(COURSE, hidden=[HIDDEN])
    with pytest.warns(grader.IsolationWarning, match="WITHOUT isolation"):
        bad, good = grade([attacker, victim], catalogue, Settings(timeout=20, chapter="ch01"))
    listener.close()
    assert bad.isolation == good.isolation == "none"
    seen = findings(bad)
    assert seen["hidden"].startswith('"""Hidden checks') and seen["sees_grader"] is True
    assert seen["victim_written"] is True and victim.read_text() == "{}"
    assert good.earned == 4 and good.problems == []  # graded from the copy read first
    time.sleep(2)
    assert book.read_text() == "real\n"
    assert processes_with("1000.4242") == []


# -- 2. results survive a grader that dies ---------------------------------------------------------


def test_killed_grader_leaves_its_gradebook_and_resume_grades_the_rest(tmp_path, capsys):
    slow = ("import os, subprocess, time\n"
            "if os.environ.get('ATTENTION_TEST_PAUSE'):\n"
            "    subprocess.Popen(['sleep', '1000.5151'])\n"
            "    time.sleep(float(os.environ['ATTENTION_TEST_PAUSE']))")
    partly = nbformat.read(SUBMISSIONS / "partly_right.ipynb", as_version=4)
    files = []
    for name in ("a", "b", "c"):
        copy = nbformat.from_dict(partly)
        if name == "c":
            copy.cells.insert(1, nbformat.v4.new_code_cell(slow))
        nbformat.write(copy, tmp_path / f"{name}.ipynb")
        files.append(str(tmp_path / f"{name}.ipynb"))
    csv_path, json_path = tmp_path / "grades.csv", tmp_path / "grades.json"
    command = ["grade", *files, "--root", str(COURSE), "--timeout", "60",
               "--csv", str(csv_path), "--json", str(json_path)]
    scratch = tmp_path / "t"  # the killed grader cannot remove its temporary folders
    scratch.mkdir()
    env = {**os.environ, "ATTENTION_TEST_PAUSE": "300", "TMPDIR": str(scratch)}
    grader_process = subprocess.Popen([sys.executable, "-m", "attention_course.cli", *command],
                                      env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and grader_process.poll() is None:
            if csv_path.exists() and len(csv_path.read_text().splitlines()) == 3:
                break
            time.sleep(0.2)
        time.sleep(1)  # c is sleeping in its kernel now
        grader_process.send_signal(signal.SIGKILL)
    finally:
        grader_process.wait()
    rows = list(csv.DictReader(csv_path.open()))
    assert [Path(r["submission"]).name for r in rows] == ["a.ipynb", "b.ipynb"]
    assert len(json.loads(json_path.read_text())) == 2
    first = rows
    if WHY_NO_SANDBOX is None:  # the sandbox of c died with the grader
        time.sleep(1)
        assert processes_with("1000.5151") == []

    assert main([*command, "--resume"]) == 0
    err = capsys.readouterr().err
    assert err.count("already in the gradebook") == 2 and "[3/3] grading" in err
    rows = list(csv.DictReader(csv_path.open()))
    assert [Path(r["submission"]).name for r in rows] == ["a.ipynb", "b.ipynb", "c.ipynb"]
    assert rows[:2] == first  # kept as they were, seconds included
    assert {r["earned"] for r in rows} == {"2"}  # partly_right, without the hidden checks


# -- 5. the book's verdict, in the grader ----------------------------------------------------------


def _solutions(chapter: Path) -> tuple[str, list[chapters.ExerciseCall]]:
    """The chapter's solution cells, after the imports they use, as one source."""
    notebook = chapters.read_notebook(chapter)
    cells = [c.source for c in notebook.cells
             if c.cell_type == "code" and "BEGIN SOLUTION" in c.source]
    used = {node.id for cell in cells for node in ast.walk(ast.parse(cell))
            if isinstance(node, ast.Name)}
    imports = []
    for cell in notebook.cells:
        try:
            tree = ast.parse(chapters.python_source(cell.source))
        except SyntaxError:  # markdown, or a cell meant to fail
            continue
        for node in tree.body:  # only the names the solutions use (no TensorFlow for `np`)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                node.names = [a for a in node.names
                              if (a.asname or a.name.partition(".")[0]) in used]
                if node.names:
                    imports.append(ast.unparse(node))
    return "\n".join(imports + cells), chapters.check_calls(notebook)


NOISY = """
import numpy as np

np.seterr(all="ignore")  # a student who silences NumPy; the checks' own settings still apply


def noisy(answer):
    def wrapped(*args, **kwargs):
        np.float64(0.0) / np.float64(0.0)  # a RuntimeWarning: invalid value
        return answer(*args, **kwargs)
    return wrapped


def nan_to_num_softmax(scores, mask):  # issue 15's example: 0/0, then nan_to_num
    e = np.where(mask, np.exp(scores - np.max(scores, axis=-1, keepdims=True)), 0.0)
    return np.nan_to_num(e / e.sum(axis=-1, keepdims=True))


answers = {}
"""


def test_every_chapters_checks_give_the_same_verdict_in_the_book_and_in_the_grader():
    """The reference solutions, the same with a NumPy warning first, and issue 15's masked
    softmax, checked as the book does (in this process) and as the grader does (in a kernel).
    """
    sources, exercises = {}, []
    for chapter in chapters.chapter_files(REPO):
        source, calls = _solutions(chapter)
        if calls:
            sources[chapter.stem] = source
            exercises += [(chapter.stem, call) for call in calls]
    cells = [NOISY] + [f"answers[{stem!r}] = {{}}\nexec({source!r}, answers[{stem!r}])"
                       for stem, source in sources.items()]
    variants = {
        f"{stem}:{c.exercise_id}:{kind}": (c.exercise_id, expression)
        for stem, c in exercises
        for kind, expression in (
            ("clean", f"eval({c.answer!r}, answers[{stem!r}])"),
            ("noisy", f"noisy(eval({c.answer!r}, answers[{stem!r}]))"),
        )
    }
    variants["ch04 nan_to_num"] = ("ch04.masked_softmax", "nan_to_num_softmax")

    book: dict[str, list[str]] = {}
    namespace: dict = {}
    saved = np.geterr()
    try:
        exec(NOISY, namespace)
        for stem, source in sources.items():
            exec(f"answers[{stem!r}] = {{}}\nexec({source!r}, answers[{stem!r}])", namespace)
        for name, (exercise_id, expression) in variants.items():
            with warnings.catch_warnings():
                result = core.run_checks(exercise_id, eval(expression, namespace))
            book[name] = [o.status for o in result.outcomes]
    finally:
        np.seterr(**saved)

    graded: dict[str, list[str]] = {}
    with SubmissionKernel(notebook(*cells), timeout=60, total_timeout=300) as kernel:
        assert kernel.run() == []
        channel = remote.AnswerChannel(kernel, call_timeout=60, total_timeout=300)
        for name, (exercise_id, expression) in variants.items():
            exercise = GradedExercise(exercise_id, expression,
                                      tuple(core.checks_for(exercise_id)))
            graded[name] = [o.status for o in grader._score(exercise, channel).outcomes]
    assert graded == book
    assert all(set(s) == {"passed"} for n, s in book.items() if n.endswith(":clean"))
    assert book["ch04 nan_to_num"].count("passed") == 1  # 1 of 3 checks, as in the book
    assert "failed" in book["04_attention_weights:ch04.masked_softmax:noisy"]
