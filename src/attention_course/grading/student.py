"""Student versions of chapters: reference solutions out, everything else intact.

In a code cell, the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` become::

    # YOUR CODE HERE
    raise NotImplementedError

at the indentation of the ``# BEGIN SOLUTION`` line, so a function keeps a valid body and the
``check`` call after it reports "not attempted" instead of stopping the notebook. Hidden
material goes too: cells tagged ``instructor`` and ``{solution}`` blocks in the prose.
The result is written as ``.md`` (MyST, like the chapters) and ``.ipynb``.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

import nbformat

from attention_course.grading.chapters import (
    chapter_key,
    check_calls,
    python_source,
    read_notebook,
)

BEGIN = re.compile(r"^(?P<indent>[ \t]*)#+\s*BEGIN SOLUTION\s*$")
END = re.compile(r"^[ \t]*#+\s*END SOLUTION\s*$")
INSTRUCTOR_TAG = "instructor"
METADATA_KEY = "attention_course"
# A ``{solution}`` directive (sphinx-exercise) fenced by 3 or more backticks or colons.
_SOLUTION_BLOCK = re.compile(
    r"^(?P<fence>`{3,}|:{3,})\{solution\}.*?^(?P=fence)[ \t]*$\n?", re.MULTILINE | re.DOTALL
)


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """Replace each ``BEGIN SOLUTION``/``END SOLUTION`` block; return (source, blocks replaced).

    Raises ``ValueError`` (naming ``where``) for an unclosed or nested block, or one at the
    top level of a cell (it must sit inside a function body, or the cell would stop).
    """
    out: list[str] = []
    indent = None
    blocks = 0
    for number, line in enumerate(source.split("\n"), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if indent is not None:
                raise ValueError(f"{where}, line {number}: BEGIN SOLUTION inside another one")
            indent = begin.group("indent")
            if not indent:
                raise ValueError(
                    f"{where}, line {number}: a solution block must be inside a function body "
                    "(indented), so that the student version still runs"
                )
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError"]
        elif end:
            if indent is None:
                raise ValueError(f"{where}, line {number}: END SOLUTION without BEGIN SOLUTION")
            indent = None
            blocks += 1
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise ValueError(f"{where}: BEGIN SOLUTION is never closed by END SOLUTION")
    return "\n".join(out), blocks


def _parses(source: str) -> bool:
    try:
        ast.parse(python_source(source))
    except (SyntaxError, ValueError):
        return False
    return True


def student_notebook(notebook: nbformat.NotebookNode, name: str = "notebook"):
    """A student version of ``notebook`` (a new node; the input is left as it was).

    Also records in the notebook metadata, under ``attention_course``, the chapter key and
    each exercise's answer expression, which the grader reads to find the chapter even when a
    student renames the file or deletes check cells.
    """
    student = copy.deepcopy(notebook)
    cells = []
    for index, cell in enumerate(student.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        if INSTRUCTOR_TAG in tags:
            continue
        if cell.cell_type == "markdown":
            cell.source = _SOLUTION_BLOCK.sub("", cell.source)
        elif cell.cell_type == "code":
            where = f"{name}, code cell {index}"
            source, blocks = strip_solutions(cell.source, where)
            if blocks:
                if _parses(cell.source) and not _parses(source):
                    raise ValueError(f"{where}: the cell no longer parses without its solution")
                cell.source = source
                tags = [t for t in tags if t not in ("hide-input", "hide-cell")]
                if tags:
                    cell.metadata["tags"] = tags
                else:
                    cell.metadata.pop("tags", None)
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    student.cells = cells
    key = chapter_key(Path(name), notebook)
    student.metadata[METADATA_KEY] = {
        "chapter": key,
        "student_version": True,
        "answers": {c.exercise_id: c.answer for c in check_calls(notebook)},
    }
    # Keep that record in the .md front matter too (jupytext drops unknown metadata by default).
    student.metadata.setdefault("jupytext", {})["notebook_metadata_filter"] = METADATA_KEY
    return student


def _is_student_version(path: Path) -> bool:
    try:
        recorded = read_notebook(path).metadata.get(METADATA_KEY)
    except ValueError:
        return False
    return isinstance(recorded, dict) and recorded.get("student_version") is True


def write_student_version(chapter: str | Path, out_dir: str | Path) -> list[Path]:
    """Write ``<out_dir>/<chapter stem>.md`` and ``.ipynb``; return the two paths.

    Raises ``ValueError`` rather than write over the chapter itself (``-o book``) or over any
    existing file that is not a student version written earlier.
    """
    import jupytext

    chapter = Path(chapter)
    out_dir = Path(out_dir)
    md_path = out_dir / f"{chapter.stem}.md"
    ipynb_path = out_dir / f"{chapter.stem}.ipynb"
    for target in (md_path, ipynb_path):
        if not target.exists():
            continue
        if target.resolve() == chapter.resolve():
            what = "the chapter itself"
        elif not _is_student_version(target):
            what = "a file that is not a student version"
        else:
            continue
        raise ValueError(
            f"refusing to write {target}: it is {what}; write student versions into a "
            "folder of their own (e.g. -o handout)"
        )
    student = student_notebook(read_notebook(chapter), chapter.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    jupytext.write(student, md_path, fmt="md:myst")
    ipynb = copy.deepcopy(student)
    ipynb.metadata.pop("jupytext", None)
    nbformat.write(ipynb, ipynb_path)
    return [md_path, ipynb_path]
