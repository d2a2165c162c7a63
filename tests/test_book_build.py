"""The incremental book build (_ext/execution_cache.py), the kernels' log filter and tasks.sh.

The pure functions are tested directly; one test builds a three-chapter book with Jupyter Book
several times to check which chapters each build executes.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from attention_course.kernel_log import (
    PLAINTEXT_TRANSPORT_WARNING,
    PlaintextTransportFilter,
    kernel_logging_config,
)

ROOT = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location("_ext_execution_cache",
                                               ROOT / "_ext" / "execution_cache.py")
cache_ext = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = cache_ext  # its dataclasses look their module up there
_spec.loader.exec_module(cache_ext)


# --- what a chapter's outputs depend on ------------------------------------------------------


def make_inputs(root: Path) -> None:
    (root / "src" / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "src" / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (root / "data").mkdir()
    (root / "data" / "values.txt").write_text("1 2 3\n")
    (root / "constraints.txt").write_text("numpy==2.0.0\n")


INPUTS = ["src", "data", "constraints.txt"]


def test_digest_changes_with_each_input_and_the_profile(tmp_path):
    make_inputs(tmp_path)
    base = cache_ext.inputs_digest(tmp_path, INPUTS, "smoke", "tensorflow")
    assert base == cache_ext.inputs_digest(tmp_path, INPUTS, "smoke", "tensorflow")
    assert base != cache_ext.inputs_digest(tmp_path, INPUTS, "cpu", "tensorflow")
    assert base != cache_ext.inputs_digest(tmp_path, INPUTS, "smoke", "jax")
    for path, text in [("src/pkg/mod.py", "x = 2\n"), ("data/values.txt", "1 2\n"),
                       ("constraints.txt", "numpy==2.1.0\n")]:
        original = (tmp_path / path).read_text()
        (tmp_path / path).write_text(text)
        assert cache_ext.inputs_digest(tmp_path, INPUTS, "smoke", "tensorflow") != base, path
        (tmp_path / path).write_text(original)
    assert cache_ext.inputs_digest(tmp_path, INPUTS, "smoke", "tensorflow") == base


def test_digest_ignores_bytecode_and_editor_files_but_not_renames_or_deletions(tmp_path):
    make_inputs(tmp_path)
    base = cache_ext.inputs_digest(tmp_path, INPUTS, "smoke", "tensorflow")
    (tmp_path / "src" / "pkg" / "__pycache__" / "other.pyc").write_bytes(b"\1")
    (tmp_path / "src" / "pkg" / ".mod.py.swp").write_bytes(b"\2")
    (tmp_path / "src" / "attention_course.egg-info").mkdir()
    (tmp_path / "src" / "attention_course.egg-info" / "PKG-INFO").write_text("x")
    assert cache_ext.inputs_digest(tmp_path, INPUTS, "smoke", "tensorflow") == base
    (tmp_path / "src" / "pkg" / "mod.py").rename(tmp_path / "src" / "pkg" / "renamed.py")
    renamed = cache_ext.inputs_digest(tmp_path, INPUTS, "smoke", "tensorflow")
    assert renamed != base
    (tmp_path / "constraints.txt").unlink()
    assert cache_ext.inputs_digest(tmp_path, INPUTS, "smoke", "tensorflow") != renamed


def test_results_use_reads_literal_names_and_flags_other_arguments():
    use = cache_ext.results_use(
        'results.save_results("ch02_length_buckets", payload)\n'
        "saved = results.load_results('ch02_length_buckets')\n"
        "results.load_results(NAME)\n")
    assert use.saves == {"ch02_length_buckets"} and use.loads == {"ch02_length_buckets"}
    assert not use.saves_any and use.loads_any
    assert cache_ext.results_use("x = 1") == cache_ext.ResultsUse()


def test_a_reader_reruns_after_the_writers_it_reads_transitively():
    uses = {
        "ch02": cache_ext.results_use('save_results("ch02", p)'),
        "ch03": cache_ext.results_use("x = 1"),
        "ch05": cache_ext.results_use('load_results("ch02"); save_results("ch05", p)'),
        "ch06": cache_ext.results_use('load_results("other")'),
        "ch07": cache_ext.results_use('load_results("ch05")'),
    }
    order = list(uses)
    assert cache_ext.readers_to_rerun(order, uses, {"ch02"}) == {"ch05", "ch07"}
    assert cache_ext.readers_to_rerun(order, uses, {"ch05"}) == {"ch07"}
    assert cache_ext.readers_to_rerun(order, uses, {"ch03", "ch07"}) == set()
    # A reader never depends on a later writer (chapters run in name order).
    assert cache_ext.readers_to_rerun(order[::-1], uses, {"ch02"}) == set()


def test_a_non_literal_name_counts_as_any_name():
    anything = cache_ext.results_use("save_results(name, p)")
    reader = cache_ext.results_use('load_results("ch09")')
    assert anything.feeds(reader)
    assert cache_ext.results_use('save_results("a", p)').feeds(
        cache_ext.results_use("load_results(name)"))
    assert not cache_ext.results_use('save_results("a", p)').feeds(reader)
    assert not reader.feeds(anything)


# --- the kernels' log filter -----------------------------------------------------------------


def record(message: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("IPKernelApp", level, __file__, 1, message, None, None)


def test_filter_drops_only_the_plaintext_transport_warning():
    keep = PlaintextTransportFilter()
    assert not keep.filter(record(PLAINTEXT_TRANSPORT_WARNING + " All communication ..."))
    assert keep.filter(record("Parent appears to have exited, shutting down."))
    assert keep.filter(record("Failed to load connection file", logging.ERROR))


def test_kernel_logging_config_names_an_importable_filter():
    config = kernel_logging_config()
    factory = config["filters"]["plaintext_transport"]["()"]
    module, _, name = factory.rpartition(".")
    assert getattr(importlib.import_module(module), name) is PlaintextTransportFilter
    assert config["handlers"]["console"]["filters"] == ["plaintext_transport"]


# --- tasks.sh --------------------------------------------------------------------------------


def test_tasks_chapter_rejects_an_unknown_chapter_listing_the_chapters():
    run = subprocess.run(["bash", str(ROOT / "tasks.sh"), "chapter", "99"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2
    assert "no chapter '99'" in run.stderr and "book/01_imdb_reviews.md" in run.stderr


def test_tasks_usage_names_every_command():
    run = subprocess.run(["bash", str(ROOT / "tasks.sh")], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2
    for command in ("book", "chapter N", "test", "setup", "ATTENTION_PROFILE",
                    "ATTENTION_FRESH_BUILD"):
        assert command in run.stdout


def test_ci_and_publishing_build_from_scratch():
    assert "ATTENTION_FRESH_BUILD=1" in (ROOT / ".ci" / "run").read_text()
    pages = (ROOT / ".github" / "workflows" / "pages.yml").read_text()
    assert re.search(r"ATTENTION_FRESH_BUILD: \"?1\"?", pages)


# --- a three-chapter book, built again and again ---------------------------------------------

FRONT_MATTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""
CONFIG = """title: mini
only_build_toc_files: true
exclude_patterns: [_build]
execute:
  execute_notebooks: cache
  raise_on_error: true
sphinx:
  local_extensions:
    execution_cache: _ext
"""
TOC = """format: jb-book
root: book/intro
chapters:
  - file: book/01_writer
  - file: book/02_other
  - file: book/03_reader
"""
WRITER = """from attention_course import results
payload = {"profile": "smoke", "sizes": {}, "maxlen": 1, "bucket_edges": [], "value": VALUE}
path = results.save_results("mini_value", payload)"""
READER = """from attention_course import results
print("value", results.load_results("mini_value")["value"])"""


def write_chapter(book: Path, name: str, code: str) -> None:
    (book / "book" / f"{name}.md").write_text(
        f"{FRONT_MATTER}\n# {name}\n\n```{{code-cell}} ipython3\n{code}\n```\n")


def build(book: Path, chapter: str | None = None) -> tuple[dict[str, str], str]:
    """Build the book; return each chapter's progress word and the build's stderr."""
    env = {**os.environ, "ATTENTION_PROFILE": "smoke"}
    env.pop("ATTENTION_RESULTS_DIR", None)
    env.pop(cache_ext.CHAPTER_ENV_VAR, None)
    if chapter:
        env[cache_ext.CHAPTER_ENV_VAR] = chapter
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    run = subprocess.run([str(jupyter_book), "build", str(book), "-W", "--keep-going", "--quiet"],
                         capture_output=True, text=True, env=env, timeout=600)
    if run.returncode:
        raise AssertionError(f"build failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    progress = {}
    for line in run.stderr.splitlines():
        found = re.match(r"\s+book/(\S+)\.md\s+(executed|from the cache|left as built)", line)
        if found:
            progress[found.group(1)] = found.group(2)
    return progress, run.stderr


def shown_value(book: Path) -> str:
    executed = json.loads((book / "_build" / "jupyter_execute" / "book" / "03_reader.ipynb")
                          .read_text())
    return "".join(output["text"] if isinstance(output["text"], str) else "".join(output["text"])
                   for cell in executed["cells"] for output in cell.get("outputs", [])).strip()


@pytest.fixture
def mini_book(tmp_path) -> Path:
    book = tmp_path / "mini"
    (book / "book").mkdir(parents=True)
    (book / "_ext").mkdir()
    shutil.copy(ROOT / "_ext" / "execution_cache.py", book / "_ext")
    make_inputs(book)
    (book / "_config.yml").write_text(CONFIG)
    (book / "_toc.yml").write_text(TOC)
    (book / "book" / "intro.md").write_text("# Intro\n\nA book of three chapters.\n")
    write_chapter(book, "01_writer", WRITER.replace("VALUE", "1"))
    write_chapter(book, "02_other", 'print("other")')
    write_chapter(book, "03_reader", READER)
    return book


def test_each_build_executes_only_what_changed(mini_book):
    progress, stderr = build(mini_book)
    assert progress == dict.fromkeys(["01_writer", "02_other", "03_reader"], "executed")
    assert shown_value(mini_book) == "value 1"
    assert "without encryption" not in stderr

    # The writer's code changes: it runs again, and so does the chapter reading its results.
    write_chapter(mini_book, "01_writer", WRITER.replace("VALUE", "2"))
    progress, _ = build(mini_book)
    assert progress == {"01_writer": "executed", "03_reader": "executed"}
    assert shown_value(mini_book) == "value 2"

    # The package changes, one chapter is asked for: only it runs (with the writer it needs),
    # the other keeps its page.
    (mini_book / "src" / "pkg" / "mod.py").write_text("x = 3\n")
    progress, _ = build(mini_book, chapter="book/03_reader")
    assert progress == {"01_writer": "executed", "02_other": "left as built",
                        "03_reader": "executed"}
    progress, _ = build(mini_book)
    assert progress == {"02_other": "executed"}

    # Back to the earlier package: every page comes from that state's cache, nothing runs.
    (mini_book / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    progress, _ = build(mini_book)
    assert set(progress.values()) == {"from the cache"}
    assert shown_value(mini_book) == "value 2"  # the executed notebook keeps its outputs
    assert "value 2" in (mini_book / "_build" / "html" / "book" / "03_reader.html").read_text()
