"""The graded-exercise tools: student versions, the grader, the gradebook, the commands.

Most submissions here answer ``tests/grading_fixtures/course/book/01_mini.md``, chapter 1's
two exercises without its data loading, graded by the package's own chapter 1 checks plus the
hidden checks in ``tests/grading_fixtures/hidden``: each takes about a second to grade.
"""

from __future__ import annotations

import copy
import csv
import json
import re
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import pytest

from attention_course.cli import main
from attention_course.grading import chapters, core, remote, student
from attention_course.grading.execution import SubmissionKernel
from attention_course.grading.gradebook import format_report, write_csv, write_json
from attention_course.grading.grader import Catalogue, Settings, grade, load_check_files

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "grading_fixtures"
COURSE = FIXTURES / "course"
MINI = COURSE / "book" / "01_mini.md"
SUBMISSIONS = FIXTURES / "submissions"
HIDDEN = FIXTURES / "hidden"
HIDDEN_MARKER = "HIDDEN_CHECK_MARKER"
SETTINGS = Settings(timeout=8, total_timeout=120)


# -- student versions --------------------------------------------------------------------------


def test_solution_blocks_become_raise_at_their_indentation():
    source = (
        "class Pooling:\n"
        "    def call(self, x):\n"
        "        y = x + 1\n"
        "        # BEGIN SOLUTION\n"
        "        return y * 2\n"
        "        # END SOLUTION\n"
        "\n"
        "def f():\n"
        "\t### BEGIN SOLUTION\n"
        "\treturn 1\n"
        "\t### END SOLUTION\n"
    )
    stripped, blocks = student.strip_solutions(source)
    assert blocks == 2
    assert stripped == (
        "class Pooling:\n"
        "    def call(self, x):\n"
        "        y = x + 1\n"
        "        # YOUR CODE HERE\n"
        "        raise NotImplementedError\n"
        "\n"
        "def f():\n"
        "\t# YOUR CODE HERE\n"
        "\traise NotImplementedError\n"
    )
    compile(stripped, "stripped", "exec")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "never closed"),
        ("def f():\n    return 1\n    # END SOLUTION\n", "without BEGIN"),
        ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", "inside a function body"),
        ("def f():\n  # BEGIN SOLUTION\n  # BEGIN SOLUTION\n", "inside another one"),
    ],
)
def test_malformed_solution_blocks_are_refused_with_the_line(source, message):
    with pytest.raises(ValueError, match=message):
        student.strip_solutions(source, "ch99.md, code cell 3")


def test_student_version_removes_solutions_and_hidden_material_and_keeps_the_rest(tmp_path):
    md, ipynb = student.write_student_version(MINI, tmp_path)
    text = md.read_text()
    original = MINI.read_text()
    for gone in ("BEGIN SOLUTION", "padded[row", "count(data.OOV)", "SOLUTION-PROSE-MARKER",
                 "INSTRUCTOR-CELL-MARKER", HIDDEN_MARKER):
        assert gone in original or gone == HIDDEN_MARKER
        assert gone not in text, f"{gone!r} is still in the student version"
    assert text.count("raise NotImplementedError") == 3
    assert ":tags: [hide-input]" not in text  # students must see where to write
    for kept in ("Write `pad_and_mask(reviews, maxlen)`", 'check("ch01.oov_rate", oov_rate)',
                 "the cell after the exercises ran", "def oov_rate(reviews):"):
        assert kept in text
    for notebook in (jupytext.read(md), nbformat.read(ipynb, as_version=4)):
        recorded = notebook.metadata[student.METADATA_KEY]
        assert recorded["chapter"] == "ch01"
        assert recorded["answers"] == {"ch01.pad_and_mask": "pad_and_mask",
                                       "ch01.oov_rate": "oov_rate"}
        assert not any(c.get("outputs") for c in notebook.cells if c.cell_type == "code")


def test_committed_untouched_submission_is_the_current_student_version():
    expected = student.student_notebook(chapters.read_notebook(MINI), MINI.name)
    committed = nbformat.read(SUBMISSIONS / "untouched.ipynb", as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in expected.cells]


@pytest.mark.parametrize("chapter", chapters.chapter_files(REPO), ids=lambda p: p.stem)
def test_every_book_chapter_has_well_formed_exercises(chapter):
    notebook = chapters.read_notebook(chapter)
    version = student.student_notebook(notebook, chapter.name)  # raises on malformed blocks
    code = "\n".join(c.source for c in version.cells if c.cell_type == "code")
    assert "BEGIN SOLUTION" not in code and "END SOLUTION" not in code
    stated = chapters.stated_points(notebook)
    for call in chapters.check_calls(notebook):
        checks = core.checks_for(call.exercise_id)
        assert not any(c.hidden for c in checks), f"{call.exercise_id}: hidden check in package"
        if call.exercise_id in stated:
            registered = sum(c.points for c in checks)
            assert stated[call.exercise_id] == registered, (
                f"{chapter.name}: {call.exercise_id} says {stated[call.exercise_id]:g} points, "
                f"its checks are worth {registered:g}"
            )
    solution_cells = sum(
        "BEGIN SOLUTION" in c.source for c in notebook.cells if c.cell_type == "code"
    )
    assert solution_cells <= len(chapters.check_calls(notebook)), (
        f"{chapter.name}: {solution_cells} solution cells but fewer check calls"
    )


def test_chapters_resolve_by_number_key_stem_or_path():
    files = chapters.resolve_chapters([], REPO)
    first = REPO / "book" / "01_imdb_reviews.md"
    assert first in files
    for spec in ("1", "01", "ch01", "01_imdb_reviews", str(first)):
        assert chapters.resolve_chapters([spec], REPO) == [first]
    with pytest.raises(ValueError, match="no single chapter matches 'ch42'.*01_imdb_reviews"):
        chapters.resolve_chapters(["ch42"], REPO)


# -- the grader ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue(COURSE, hidden=[HIDDEN])


@pytest.fixture(scope="module")
def graded(catalogue):
    """Every fixture submission and the reference chapter, graded in one batch (3 at a time)."""
    files = [MINI, *sorted(SUBMISSIONS.iterdir())]
    seen = []
    results = grade(files, catalogue, SETTINGS, jobs=3,
                    progress=lambda i, n, path, result: seen.append((i, result is None)))
    assert len(results) == len(files), "the batch stopped early"
    assert sorted(seen) == [(i, done) for i in range(1, len(files) + 1) for done in (0, 1)]
    return {Path(r.submission).name: r for r in results}


def outcomes(result, exercise_id):
    return next(e for e in result.exercises if e.exercise_id == exercise_id).outcomes


def public_score(result) -> float:
    return sum(o.earned for e in result.exercises for o in e.outcomes if not o.hidden)


def test_reference_solution_gets_full_marks_with_hidden_checks(graded):
    result = graded["01_mini.md"]
    assert result.graded and result.chapter == "ch01"
    assert (result.earned, result.points) == (5, 5)
    assert sum(o.hidden for e in result.exercises for o in e.outcomes) == 2
    assert result.problems == []


def test_untouched_student_version_runs_and_scores_zero(graded):
    result = graded["untouched.ipynb"]
    assert result.graded and (result.earned, result.points) == (0, 5)
    assert {e.status for e in result.exercises} == {"not attempted"}
    assert result.problems == [], "the student version itself must run without errors"


def test_partly_right_submission_gets_partial_marks_and_the_failing_message(graded):
    result = graded["partly_right.ipynb"]
    assert public_score(result) == 2
    (public,) = [o for o in outcomes(result, "ch01.oov_rate") if not o.hidden]
    assert public.status == "failed"
    assert "3 of the 8 ids are the OOV id 2, expected 0.375, got 1.0" in public.message
    assert "expected 0.375, got 1.0" in format_report(result, width=200)


def test_infinite_loop_times_out_and_the_rest_is_scored(graded):
    result = graded["infinite_loop.ipynb"]
    assert result.graded and public_score(result) == 2  # pad_and_mask is right
    messages = [o.message for o in outcomes(result, "ch01.oov_rate")]
    assert "TimeoutError" in messages[0] and "not tried" in messages[1]
    assert any(f"timeout: interrupted after {SETTINGS.timeout:g} s" in p for p in result.problems)
    assert result.seconds < 60


def test_kernel_that_ignores_interrupts_is_killed_and_rerun_without_that_cell(graded):
    result = graded["ignores_interrupts.ipynb"]
    assert (result.earned, result.points) == (5, 5)
    assert any("died: the kernel ignored the interrupt" in p for p in result.problems)
    assert any("skipped" in p for p in result.problems)
    assert result.seconds < 90


def test_kernel_that_exits_is_restarted_without_that_cell(graded):
    result = graded["kernel_exits.ipynb"]
    assert (result.earned, result.points) == (5, 5)
    assert any("died: the kernel died in this cell" in p for p in result.problems)


def test_syntax_error_costs_only_that_exercise(graded):
    result = graded["syntax_error.md"]
    assert public_score(result) == 1
    assert "NameError" in outcomes(result, "ch01.pad_and_mask")[0].message
    assert any("SyntaxError" in p for p in result.problems)


def test_deleted_check_cells_and_no_metadata_still_get_full_marks(graded):
    notebook = nbformat.read(SUBMISSIONS / "no_check_cells.ipynb", as_version=4)
    assert student.METADATA_KEY not in notebook.metadata
    assert not any("check(" in c.source for c in notebook.cells)
    result = graded["no_check_cells.ipynb"]
    assert result.chapter == "ch01" and (result.earned, result.points) == (5, 5)


def test_tampering_with_checks_registry_and_grader_does_not_raise_the_score(graded):
    source = (SUBMISSIONS / "tampering.ipynb").read_text()
    for trick in ("def check(", "core._CHECKS.values()", "grader.grade_submission =",
                  "np.array_equal = ", "exercise_check(\\\"ch01.pad_and_mask\\\", points=100)",
                  "def serve(payload)"):
        assert trick in source, f"the fixture no longer tries {trick!r}"
    result = graded["tampering.ipynb"]
    # Its oov_rate returns a float subclass equal to everything: it arrives as the plain
    # float 0.0, which is right only for the hidden check whose expected rate is 0.
    assert result.graded and public_score(result) == 0 and result.points == 5
    assert [o.name for e in result.exercises for o in e.outcomes if o.earned] == [
        f"{HIDDEN_MARKER}_counts_reviews_without_oov"
    ]
    # The grader's own registry was never touched by the submission.
    assert [c.name for c in core.checks_for("ch01.pad_and_mask")] == [
        "pads_and_truncates_at_the_end"
    ]


def test_deleting_its_folder_then_killing_the_kernel_is_retried_without_that_cell(graded):
    result = graded["deletes_its_folder.ipynb"]
    assert result.graded and (result.earned, result.points) == (5, 5), result.problems
    assert any("died: the kernel died in this cell" in p for p in result.problems)
    assert any("skipped" in p for p in result.problems)


def test_generator_answer_is_named_as_the_book_names_it(graded):
    (public, _) = outcomes(graded["hostile_messages.ipynb"], "ch01.pad_and_mask")
    assert public.status == "failed" and public.message.endswith("got generator")


def test_messages_a_submission_controls_are_capped_and_shown_inert(graded, tmp_path):
    result = graded["hostile_messages.ipynb"]
    (public, hidden) = outcomes(result, "ch01.oov_rate")
    assert public.status == hidden.status == "error"
    # The class name and message are the submission's: a million characters, escapes.
    assert public.message.startswith("Loud\x1b[2J")
    assert len(public.message) < 2100 and "more characters]" in public.message
    table = format_report(result, width=100)
    assert not any(ord(c) < 32 and c != "\n" or c == "\u202e" for c in table)
    assert "Loud\\x1b[2J\\x1b[31m: \\x1b]0;pwned\\x07\\x0dFAKE" in table
    assert "\\u202egnp." in table
    assert write_json([result], tmp_path / "g.json").stat().st_size < 20_000


def test_huge_output_is_survived(graded, tmp_path):
    result = graded["huge_output.ipynb"]
    assert (result.earned, result.points) == (5, 5)
    assert write_json([result], tmp_path / "g.json").stat().st_size < 20_000


def test_output_kept_per_cell_is_capped():
    notebook = nbformat.read(SUBMISSIONS / "huge_output.ipynb", as_version=4)
    with SubmissionKernel(notebook, timeout=30, max_output_chars=10_000) as kernel:
        kernel.run()
    kept = sum(len(o.get("text", "")) for c in notebook.cells for o in c.get("outputs", []))
    assert 10_000 <= kept < 11_000
    assert any("output beyond 10,000 characters dropped" in o.get("text", "")
               for c in notebook.cells for o in c.get("outputs", []))


def test_submission_raising_at_import_is_scored(graded):
    result = graded["raises_at_import.ipynb"]
    assert result.graded and public_score(result) == 1  # oov_rate needs no import
    assert "NameError: name 'np' is not defined" in outcomes(result, "ch01.pad_and_mask")[0].message
    assert any("ModuleNotFoundError" in p for p in result.problems)


def test_unreadable_file_scores_nothing_and_does_not_stop_the_batch(graded):
    result = graded["not_a_notebook.ipynb"]
    assert not result.graded and result.exercises == []
    assert "cannot read" in result.problems[0]


def test_one_at_a_time_gives_the_same_scores_as_in_parallel(graded, catalogue):
    names = ["partly_right.ipynb", "not_a_notebook.ipynb", "tampering.ipynb",
             "untouched.ipynb", "no_check_cells.ipynb"]
    results = grade([SUBMISSIONS / n for n in names], catalogue, SETTINGS, jobs=1)
    assert [Path(r.submission).name for r in results] == names
    assert [(r.earned, r.points) for r in results] == [
        (graded[n].earned, graded[n].points) for n in names
    ]


def test_hidden_checks_count_and_are_marked(graded):
    result = graded["hardcoded.ipynb"]
    assert public_score(result) == 3 and result.earned == 4
    failed = [o for o in outcomes(result, "ch01.oov_rate") if o.status != "passed"]
    assert [(o.hidden, o.name) for o in failed] == [
        (True, f"{HIDDEN_MARKER}_counts_reviews_without_oov")
    ]
    assert "(hidden): failed" in format_report(result)


def test_hidden_checks_stay_out_of_the_package_and_student_material(tmp_path):
    load_check_files([HIDDEN], hidden=True)
    assert not any(c.hidden for checks in core._CHECKS.values() for c in checks)
    assert main(["student", "-o", str(tmp_path), "--root", str(COURSE)]) == 0
    assert main(["student", "1", "-o", str(tmp_path / "book"), "--root", str(REPO)]) == 0
    written = list(tmp_path.rglob("*.*"))
    assert len(written) == 4
    assert not any(HIDDEN_MARKER in path.read_text() for path in written)


def test_answers_come_back_as_data_or_remote_objects():
    cells = [
        "import fractions\nimport numpy as np\nfrom collections import namedtuple\n"
        "Pair = namedtuple('Pair', 'a b')",
        "class Tensorish:\n    def __array__(self, dtype=None, copy=None):\n"
        "        return np.arange(3.0)\n\n"
        "class Scaler:\n    def __init__(self, k):\n        self.k = k\n"
        "    def __call__(self, x):\n        return np.asarray(x) * self.k\n\n"
        "def answer():\n    return {'pair': Pair(np.float32(1), [2, None]), 'set': {3},\n"
        "            'tensor': Tensorish(), 'scaler': Scaler, 'third': fractions.Fraction(1, 3)}",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    import fractions

    with SubmissionKernel(notebook, timeout=10) as kernel:
        assert kernel.run() == []
        channel = remote.AnswerChannel(kernel, call_timeout=10, total_timeout=60)
        value = channel.answer("answer")()
        assert type(value["pair"]) is tuple and value["pair"][1] == [2, None]
        assert value["pair"][0] == np.float32(1) and value["set"] == {3}
        np.testing.assert_array_equal(value["tensor"], [0.0, 1.0, 2.0])
        scaler = value["scaler"](k=2)  # a class in the kernel, instantiated there
        assert isinstance(scaler, remote.RemoteObject) and scaler.k == 2
        assert type(scaler).__name__ == "Scaler"  # as a check's message names it
        np.testing.assert_array_equal(scaler([1, 2]), [2, 4])
        assert isinstance(value["third"], fractions.Fraction)  # its class, as seen here
        assert value["third"].numerator == 1
        with pytest.raises(core.AnswerError, match="ZeroDivisionError"):
            channel.request("eval", "1/0")


def test_submission_for_an_unknown_chapter_is_not_graded(catalogue, tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    path = tmp_path / "essay.ipynb"
    nbformat.write(notebook, path)
    (result,) = grade([path], catalogue, SETTINGS)
    assert not result.graded and "pass --chapter" in result.problems[0]


# -- gradebook and commands ---------------------------------------------------------------------


def test_gradebook_has_a_row_per_submission_and_a_column_per_exercise(graded, tmp_path):
    results = list(graded.values())
    rows = list(csv.DictReader(write_csv(results, tmp_path / "g.csv").open()))
    assert len(rows) == len(results)
    assert list(rows[0])[-2:] == ["ch01.pad_and_mask", "ch01.oov_rate"]
    by_name = {Path(r["submission"]).name: r for r in rows}
    assert by_name["partly_right.ipynb"]["ch01.oov_rate"] == "1"  # the hidden check passed
    assert by_name["not_a_notebook.ipynb"]["graded"] == "no"
    book = json.loads(write_json(results, tmp_path / "g.json").read_text())
    entry = next(e for e in book if e["submission"].endswith("partly_right.ipynb"))
    checks = entry["exercises"]["ch01.oov_rate"]["checks"]
    assert any("expected 0.375, got 1.0" in c["message"] for c in checks)


def test_grade_command_prints_progress_tables_and_writes_the_gradebook(tmp_path, capsys):
    csv_path, json_path = tmp_path / "book.csv", tmp_path / "book.json"
    status = main([
        "grade", str(SUBMISSIONS / "partly_right.ipynb"), str(MINI), "--root", str(COURSE),
        "--timeout", "20", "--csv", str(csv_path), "--json", str(json_path),
    ])
    out, err = capsys.readouterr()
    assert status == 0
    assert "[1/2] grading" in err and "[2/2] grading" in err
    assert re.search(r"ch01\.oov_rate\s+0/1\s+failed", out)
    assert re.search(r"total\s+3/3", out)
    assert "graded 2 of 2 submissions" in out
    assert len(list(csv.reader(csv_path.open()))) == 3 and json_path.exists()


def test_grade_command_reports_a_missing_hidden_folder(tmp_path, capsys):
    status = main(["grade", str(MINI), "--root", str(COURSE), "--hidden", str(tmp_path / "no")])
    assert status == 2 and "does not exist" in capsys.readouterr().err


def test_real_chapter_one_full_marks_for_reference_zero_for_student_version(tmp_path):
    """Chapter 1 itself, end to end (slower: it loads the reviews, twice)."""
    chapter = REPO / "book" / "01_imdb_reviews.md"
    _, ipynb = student.write_student_version(chapter, tmp_path)
    reference, untouched = grade([chapter, ipynb], Catalogue(REPO), Settings(timeout=300))
    assert reference.graded and reference.earned == reference.points == 3, reference.problems
    assert reference.problems == []
    assert untouched.graded and untouched.earned == 0 and untouched.problems == []
    assert {e.status for e in untouched.exercises} == {"not attempted"}


def test_copy_of_a_submission_is_graded_the_same(tmp_path, catalogue):
    """Renaming a file (as students do) changes nothing: the chapter is in its metadata."""
    notebook = nbformat.read(SUBMISSIONS / "partly_right.ipynb", as_version=4)
    path = tmp_path / "alice smith (1).ipynb"
    nbformat.write(copy.deepcopy(notebook), path)
    (result,) = grade([path], catalogue, SETTINGS)
    assert result.chapter == "ch01" and public_score(result) == 2
