"""What a submission controls stays bounded in the grader: replies decoded with limits, text
capped and escaped, the gradebook written atomically, feedback without hidden checks, and the
commands' refusals. No kernel here: every test takes milliseconds.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from attention_course.cli import main
from attention_course.grading import gradebook, grader, remote, remote_kernel, replies, student
from attention_course.grading.bounded_text import cap, escape_controls, safe_file_name, wrap
from attention_course.grading.core import AnswerError, CheckOutcome, ExerciseResult
from attention_course.grading.grader import Settings, SubmissionResult

FIXTURES = Path(__file__).parent / "grading_fixtures"
COURSE = FIXTURES / "course"


def encode(value) -> str:
    """The reply the kernel's half sends for ``value``, as the grader receives it."""
    encoder = remote_kernel._Encoder()
    header = {"status": "ok", "value": encoder.encode(value), "warnings": []}
    return repr(base64.b64encode(remote_kernel._pack(header, encoder.buffers)).decode())


def crafted(header: dict | bytes, data: bytes = b"", length: int | None = None) -> str:
    """A reply as a hostile kernel could write it (``header`` as JSON, or its bytes)."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    length = len(text) if length is None else length
    payload = remote_kernel.MAGIC + struct.pack(">I", length) + text + data
    return repr(base64.b64encode(payload).decode())


def no_refs(ref, module, qualname):
    raise AssertionError("no reference expected")


class Evil(np.float64):
    """The issue's reproducer: pickling it would allocate 1 GB wherever it is unpickled."""

    def __reduce__(self):
        return (bytearray, (10**9,))


class Sneaky(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


# -- replies ------------------------------------------------------------------------------------


def test_plain_values_round_trip_and_subclasses_arrive_as_their_base_type():
    value = {
        "array": np.arange(6, dtype=np.int16).reshape(2, 3), "bools": np.array([True, False]),
        "strings": np.array(["ab", "c"]), "dates": np.array(["2024-01-02"], dtype="M8[D]"),
        "scalar": Evil(0.375), "sneaky": Sneaky(3), "tuple": (1, None, 2.5, "x", b"\x00", 1j),
        "set": {1, 2}, "frozen": frozenset({"a"}), "nested": [[1, [2, (3,)]]],
        "objects": np.array([1, "a", None], dtype=object), "dtype": np.dtype("f4"),
        "empty": np.zeros((0, 4)), "nan": float("nan"), "bytearray": bytearray(b"ab"),
    }
    got = replies.decode_reply(encode(value), no_refs).value
    np.testing.assert_array_equal(got["array"], value["array"])
    assert got["array"].dtype == np.int16 and got["array"].flags.writeable
    assert got["strings"].tolist() == ["ab", "c"] and got["dates"].dtype == np.dtype("M8[D]")
    assert type(got["scalar"]) is np.float64 and got["scalar"] == 0.375
    assert type(got["sneaky"]) is int and got["sneaky"] == 3 and got["sneaky"] != 4
    assert got["tuple"] == (1, None, 2.5, "x", b"\x00", 1j) and type(got["tuple"]) is tuple
    assert got["set"] == {1, 2} and got["frozen"] == frozenset({"a"})
    assert got["nested"] == [[1, [2, (3,)]]]
    assert got["objects"].dtype == object and got["objects"].tolist() == [1, "a", None]
    assert got["dtype"] == np.dtype("f4") and got["empty"].shape == (0, 4)
    assert np.isnan(got["nan"]) and type(got["bytearray"]) is bytearray


def test_other_objects_stay_in_the_kernel_as_references():
    made = []

    def make(ref, module, qualname):
        made.append((ref, module, qualname))
        return "handle"

    got = replies.decode_reply(encode([len, Evil]), make).value
    assert got == ["handle", "handle"]
    assert [m[1:] for m in made] == [("builtins", "builtin_function_or_method"),
                                     ("builtins", "type")]


HOSTILE = {
    "a shape larger than its bytes": (
        {"status": "ok", "value": {"t": "array", "dtype": "<f8", "shape": [125_000_000],
                                   "n": 10**9}}, b"", None, "more bytes than the reply holds"),
    "bytes that do not match the shape": (
        {"status": "ok", "value": {"t": "array", "dtype": "<f8", "shape": [10**9], "n": 8}},
        b"\x00" * 8, None, "does not hold"),
    "an object dtype": (
        {"status": "ok", "value": {"t": "array", "dtype": "|O", "shape": [1], "n": 8}},
        b"\x00" * 8, None, "not a plain dtype"),
    "a sub-array dtype": (
        {"status": "ok", "value": {"t": "array", "dtype": "(1000000000,)f8", "shape": [],
                                   "n": 8}}, b"\x00" * 8, None, "not a plain dtype"),
    "two arrays sharing bytes": (
        {"status": "ok", "value": [{"t": "array", "dtype": "|u1", "shape": [8], "n": 8}] * 2},
        b"\x00" * 8, None, "more bytes than the reply holds"),
    "bytes left over": (
        {"status": "ok", "value": 1}, b"\x00" * 100, None, "no value uses"),
    "a header longer than allowed": (
        {"status": "ok", "value": 1}, b"", remote_kernel.MAX_HEADER_BYTES + 1, "too large"),
    "nesting beyond the depth limit": (
        b'{"status": "ok", "value": ' + b"[" * 300 + b"]" * 300 + b"}", b"", None,
        "nested too deeply"),
    "nesting beyond what JSON parses": (
        b'{"status": "ok", "value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b"", None,
        "RecursionError"),
    "an integer of 10,000 digits": (
        b'{"status": "ok", "value": ' + b"9" * 10_000 + b"}", b"", None, "ValueError"),
    "an unknown tag": (
        {"status": "ok", "value": {"t": "pickle", "v": "gAR9lC4="}}, b"", None,
        "unknown value tag"),
    "an unhashable set item": (
        {"status": "ok", "value": {"t": "set", "v": [[1]]}}, b"", None, "unhashable"),
    "a malformed reference": (
        {"status": "ok", "value": {"t": "ref", "id": "os.system"}}, b"", None,
        "malformed reference"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_replies_are_the_answers_failure_and_cost_no_memory(case):
    header, data, length, message = HOSTILE[case]
    reply = crafted(header, data, length)
    tracemalloc.start()
    try:
        with pytest.raises(replies.ReplyError, match=message):
            replies.decode_reply(reply, no_refs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"decoding {case} took {peak:,} bytes"


def test_replies_that_are_not_replies_are_refused_before_decoding():
    for text, message in [
        ("'" + "A" * (replies.MAX_REPLY_CHARS + 10) + "'", "too large"),
        ("42", "not a quoted string"),
        ("'not base64!'", "not base64"),
        (repr(base64.b64encode(b"PK\x03\x04 something else").decode()), "start as replies"),
    ]:
        with pytest.raises(replies.ReplyError, match=message):
            replies.decode_reply(text, no_refs)


def test_memory_error_while_decoding_is_the_answers_failure(monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(replies.np, "frombuffer", no_memory)
    with pytest.raises(replies.ReplyError, match="MemoryError"):
        replies.decode_reply(encode(np.zeros(3)), no_refs)


def test_remote_exceptions_keep_their_builtin_class_and_warnings_are_reissued():
    error = replies.RemoteError((("__main__", "BadShape"), ("builtins", "ValueError")),
                                "rows differ", False)
    raised = remote.remote_exception(error)
    assert isinstance(raised, ValueError) and isinstance(raised, AnswerError)
    assert str(raised) == "BadShape: rows differ"
    key = remote.remote_exception(replies.RemoteError((("builtins", "KeyError"),), "k", False))
    assert isinstance(key, KeyError) and str(key) == "KeyError: k"
    odd = remote.remote_exception(replies.RemoteError((("x", "Custom"),), "", False))
    assert type(odd) is AnswerError and str(odd) == "Custom"
    warning = replies.RemoteWarning((("__main__", "MyWarning"), ("builtins", "RuntimeWarning")),
                                    "invalid value encountered in divide", "cell", 3)
    with pytest.warns(RuntimeWarning, match="invalid value"):
        remote.reissue_warnings([warning])


# -- text a submission controls -----------------------------------------------------------------


def test_control_and_formatting_characters_are_escaped():
    text = "ok\x1b[2J\rFAKE\x07\u202edaer\u2028\tend\nnext"
    shown = escape_controls(text)
    assert shown == "ok\\x1b[2J\\x0dFAKE\\x07\\u202edaer\\u2028    end\nnext"
    assert escape_controls("a\nb", keep_newlines=False) == "a\\x0ab"
    assert escape_controls("plain text") == "plain text"


def test_wrapping_is_linear_and_keeps_every_character():
    assert wrap("aaa bbb ccc", 20) == ["aaa bbb ccc"]
    assert wrap("aaaa bbbb cccc dddd", 14, indent="  ") == ["aaaa bbbb cccc", "  dddd"]
    assert wrap("x" * 25, 12, indent="") == ["x" * 12, "x" * 12, "x"]
    for text in ("x" * 2_000_000, "a " * 1_000_000, "ab\n" * 500_000):
        start = time.perf_counter()
        lines = wrap(text, 80)
        assert time.perf_counter() - start < 3
        assert "".join("".join(lines).split()) == "".join(text.split())
        assert max(map(len, lines)) <= 80


def test_caps_and_file_names():
    assert cap("x" * 10, 20) == "x" * 10
    assert cap("x" * 30, 20) == "x" * 20 + "... [10 more characters]"
    assert safe_file_name("alice smith (1).ipynb") == "alice_smith_1_.ipynb"
    assert safe_file_name("../../etc/passwd") == "_.._etc_passwd"  # one plain file name
    assert safe_file_name("\x1b" * 3) == "_"
    long = safe_file_name("a" * 500 + ".ipynb", limit=80)
    assert len(long) == 80 and long.endswith(".ipynb")
    assert safe_file_name("") == "submission"


def result_with(message: str, hidden_message: str = "",
                name: str = "subs/al\x1bice\n.ipynb") -> SubmissionResult:
    exercise = ExerciseResult("ch01.pad_and_mask", [
        CheckOutcome("pads_right", 2, 0, "failed", message),
        CheckOutcome("SECRET_hidden_check_name", 1, 0, "failed", hidden_message, hidden=True),
        CheckOutcome("another_secret", 1, 1, "passed", "", hidden=True),
    ])
    return SubmissionResult(name, "ch01", True, [exercise],
                            ["cell 2 `x`: error: NameError: y"], 1.5, "ab" * 32, "bubblewrap")


def test_table_shows_every_row_that_differs_and_names_escaped():
    expected = "\n".join(f" [{i} {i} {i} 0 0]" for i in range(6))
    got = "\n".join(f" [{i} {i} {i} 0 0]" for i in range(5)) + "\n [9 9 9 9 9]"
    message = f"expected padded\n[{expected}]\ngot\n[{got}]"
    table = gradebook.format_report(result_with(message), width=100)
    assert "[9 9 9 9 9]" in table and "more lines" not in table
    assert "al\\x1bice\\x0a.ipynb" in table.splitlines()[0]


def test_feedback_shows_hidden_checks_as_passed_or_failed_only(tmp_path):
    results = [result_with("expected 0.375, got 1.0", "HIDDEN-INPUT [[1, 5, 6]]"),
               result_with("other"), result_with("x", name="elsewhere/al\x1bice\n.ipynb")]
    files = gradebook.write_feedback(results, tmp_path / "feedback")
    assert [f.name for f in files] == ["subs_al_ice_.ipynb.feedback.txt",
                                       "subs_al_ice_.ipynb-2.feedback.txt",
                                       "elsewhere_al_ice_.ipynb.feedback.txt"]
    text = files[0].read_text()
    assert "expected 0.375, got 1.0" in text
    assert "hidden check 1: failed" in text and "hidden check 2: passed" in text
    for secret in ("HIDDEN-INPUT", "SECRET_hidden_check_name", "another_secret", "\x1b"):
        assert secret not in text
    assert "NameError: y" in text and "Total: 1/4 points" in text


# -- the gradebook -------------------------------------------------------------------------------


def test_gradebook_files_are_replaced_atomically_and_read_back(tmp_path):
    results = [result_with("m")]
    csv_path, json_path = tmp_path / "g.csv", tmp_path / "g.json"
    csv_path.write_text("old")
    gradebook.write_csv(results, csv_path)
    gradebook.write_json(results, json_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.csv", "g.json"]  # no temp files
    assert csv_path.read_text().startswith("submission,chapter,graded")
    (back,) = gradebook.read_json(json_path)
    assert back == results[0]
    json_path.write_text('{"not": "a list"}')
    with pytest.raises(ValueError, match="cannot resume from .*g.json"):
        gradebook.read_json(json_path)


# -- commands and settings -----------------------------------------------------------------------


@pytest.mark.parametrize("option", [["--timeout", "0"], ["--total-timeout", "0"],
                                    ["--jobs", "-3"], ["--timeout", "nan"], ["--jobs", "1.5"]])
def test_grade_command_rejects_non_positive_limits(option, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["grade", "x.ipynb", *option])
    assert stopped.value.code == 2
    assert option[0] in capsys.readouterr().err


def test_settings_and_grade_reject_non_positive_limits():
    for bad in ({"timeout": 0}, {"total_timeout": -1}, {"timeout": float("inf")},
                {"sandbox": "docker"}):
        with pytest.raises(ValueError):
            Settings(**bad)
    with pytest.raises(ValueError, match="jobs"):
        grader.grade([], None, jobs=0)


def test_student_versions_never_overwrite_a_chapter(tmp_path, capsys):
    course = tmp_path / "course"
    (course / "book").mkdir(parents=True)
    (course / "_toc.yml").write_text((COURSE / "_toc.yml").read_text())
    chapter = course / "book" / "01_mini.md"
    chapter.write_text((COURSE / "book" / "01_mini.md").read_text())
    before = chapter.read_bytes()
    assert main(["student", "-o", str(course / "book"), "--root", str(course)]) == 1
    assert "refusing to write" in capsys.readouterr().err
    assert chapter.read_bytes() == before and not (course / "book" / "01_mini.ipynb").exists()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "01_mini.md").write_text("# my own notes, same name\n")
    with pytest.raises(ValueError, match="not a student version"):
        student.write_student_version(chapter, notes)
    handout = tmp_path / "handout"
    assert main(["student", "-o", str(handout), "--root", str(course)]) == 0
    assert main(["student", "-o", str(handout), "--root", str(course)]) == 0  # again: fine


def test_grade_command_says_loudly_when_submissions_run_without_isolation(monkeypatch, capsys):
    from attention_course import cli
    from attention_course.grading.sandbox import IsolationUnavailable

    def unavailable():
        raise IsolationUnavailable("bubblewrap (bwrap) is not installed")

    monkeypatch.setattr(grader, "bubblewrap", unavailable)
    assert cli._isolation("auto") == "none"
    err = capsys.readouterr().err
    assert err.count("WARNING: submissions will run WITHOUT isolation") == 1
    assert "bwrap) is not installed" in err
    assert cli._isolation("bwrap") is None
    assert "--sandbox bwrap: bubblewrap (bwrap) is not installed" in capsys.readouterr().err
