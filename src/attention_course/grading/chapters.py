"""Chapters and submissions as notebooks, and the exercises a notebook contains.

A chapter is a MyST-Markdown notebook in ``book/`` (jupytext front matter with
``format_name: myst``). Its exercises are found from the notebook itself: every
``check("chNN.name", answer)`` call names an exercise and the expression that holds the answer,
and reference solutions sit between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nbformat

MYST_MARK = "format_name: myst"
EXERCISE_ID = re.compile(r"\b(ch\d+)\.[A-Za-z_]\w*\b")
_LEADING_NUMBER = re.compile(r"^(?:ch)?(\d+)(?:_|$)")
_STATED_POINTS = re.compile(
    r"\b(ch\d+\.[A-Za-z_]\w*)\b[^\n]{0,20}?\(\s*(\d+(?:\.\d+)?)\s+points?\s*\)"
)


@dataclass(frozen=True)
class ExerciseCall:
    """A ``check("chNN.name", answer)`` call: the exercise and the answer's expression."""

    exercise_id: str
    answer: str
    cell: int


def find_root(start: Path | None = None) -> Path:
    """The course folder: the nearest folder holding ``_toc.yml`` and ``book/``.

    Searched from ``start`` (default: the current folder) upwards, then next to the package
    (an editable install from a clone). Raises ``FileNotFoundError`` naming where it looked.
    """
    start = Path(start or Path.cwd()).resolve()
    candidates = [start, *start.parents, Path(__file__).resolve().parents[3]]
    for folder in candidates:
        if (folder / "_toc.yml").is_file() and (folder / "book").is_dir():
            return folder
    raise FileNotFoundError(
        f"no course folder (with _toc.yml and book/) at or above {start}, nor next to the "
        "installed package; run the command inside a clone of the course or pass --root"
    )


def read_notebook(path: str | Path, data: bytes | None = None) -> nbformat.NotebookNode:
    """Read an ``.ipynb`` or a jupytext text notebook (``.md``, ``.py``) as an nbformat v4 node.

    With ``data``, the notebook is those bytes (a file read earlier) and ``path`` only names
    it. Raises ``ValueError`` saying which file could not be read and why.
    """
    import jupytext

    path = Path(path)
    try:
        if path.suffix not in {".ipynb", ".md", ".py"}:
            raise ValueError("expected a .ipynb, .md or .py notebook")
        text = path.read_bytes() if data is None else data
        text = text.decode("utf-8")
        if path.suffix == ".ipynb":
            notebook = nbformat.reads(text, as_version=4)
        else:
            notebook = jupytext.reads(text, fmt=path.suffix[1:])
    except Exception as err:  # any parse failure is reported the same way
        raise ValueError(f"cannot read {path} as a notebook: {type(err).__name__}: {err}") from err
    if not isinstance(notebook.get("cells"), list):
        raise ValueError(f"cannot read {path} as a notebook: it has no list of cells")
    return notebook


def is_chapter_source(path: Path) -> bool:
    """True for a MyST notebook (jupytext front matter with ``format_name: myst``)."""
    return path.suffix == ".md" and MYST_MARK in path.read_text(encoding="utf-8")[:600]


def toc_pages(root: Path) -> list[Path]:
    """Every page ``_toc.yml`` lists (root first, in order), as ``.md`` paths under ``root``."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8")) or {}
    names = [toc["root"]] if "root" in toc else []

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                names.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [root / f"{name}.md" for name in names]


def chapter_files(root: Path) -> list[Path]:
    """Every chapter notebook: those in ``_toc.yml`` (in its order), then other ``book/*.md``.

    Raises ``FileNotFoundError`` when ``root`` has no ``_toc.yml``.
    """
    if not (Path(root) / "_toc.yml").is_file():
        raise FileNotFoundError(f"{root} is not a course folder: it has no _toc.yml")
    listed = [p for p in toc_pages(root) if p.is_file()]
    others = sorted(p for p in (root / "book").glob("*.md") if p not in listed)
    return [p for p in listed + others if is_chapter_source(p)]


def python_source(source: str) -> str:
    """A code cell's source as plain Python (IPython magics and ``!`` lines transformed)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # no IPython: magics stay as they are (and fail to parse)
        return source
    return TransformerManager().transform_cell(source)


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(python_source(source))
    except (SyntaxError, ValueError):
        return None


def check_calls(notebook: nbformat.NotebookNode) -> list[ExerciseCall]:
    """The ``check("chNN.name", answer)`` calls of a notebook, in order (cells that do not
    parse as Python are skipped)."""
    calls = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or "check" not in cell.source:
            continue
        tree = _parse(cell.source)
        for node in ast.walk(tree) if tree else ():
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            first = node.args[0]
            if (
                name == "check"
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and EXERCISE_ID.fullmatch(first.value)
            ):
                calls.append(ExerciseCall(first.value, ast.unparse(node.args[1]), index))
    return calls


def stated_points(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """Points as the exercise statements give them: ``**ch01.oov_rate (1 point).**``."""
    stated = {}
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for exercise_id, points in _STATED_POINTS.findall(cell.source):
                stated[exercise_id] = float(points)
    return stated


def key_from_name(name: str) -> str | None:
    """``ch01`` for ``01_imdb_reviews``, ``ch01``, ``1`` or ``01``; None without a number."""
    match = _LEADING_NUMBER.match(Path(name).stem.lower())
    return f"ch{int(match.group(1)):02d}" if match else None


def chapter_key(path: Path, notebook: nbformat.NotebookNode | None = None) -> str | None:
    """The exercise-id prefix of a chapter: from its ``check`` calls, else its file name."""
    notebook = notebook if notebook is not None else read_notebook(path)
    calls = check_calls(notebook)
    if calls:
        return calls[0].exercise_id.partition(".")[0]
    return key_from_name(path.name)


@lru_cache(maxsize=64)
def _chapter_index(root: Path) -> tuple[tuple[str | None, Path], ...]:
    return tuple((chapter_key(path), path) for path in chapter_files(root))


def chapter_index(root: Path) -> dict[str, Path]:
    """Chapter key (``ch01``) to chapter file, for the chapters that have a key."""
    return {key: path for key, path in _chapter_index(Path(root).resolve()) if key}


def resolve_chapters(specs: list[str], root: Path) -> list[Path]:
    """Chapter files for command-line names: a path, ``1``, ``01``, ``ch01`` or a file stem.

    No names means every numbered chapter (``01_...md``; not pages such as ``grading.md``).
    Raises ``ValueError`` listing the chapters for a name that matches none.
    """
    files = chapter_files(root)
    if not specs:
        return [p for p in files if key_from_name(p.name)]
    chosen = []
    for spec in specs:
        path = Path(spec)
        if path.suffix == ".md" and path.is_file():
            chosen.append(path.resolve())
            continue
        key = key_from_name(spec)
        matches = [
            p for p in files
            if p.stem == spec or (key is not None and key_from_name(p.name) == key)
        ]
        if len(matches) != 1:
            known = ", ".join(p.stem for p in files if key_from_name(p.name))
            raise ValueError(f"no single chapter matches {spec!r}; chapters are: {known}")
        chosen.append(matches[0])
    return chosen
