"""Where the built book is, and which pages _toc.yml lists."""

from pathlib import Path

from attention_course.grading.chapters import is_chapter_source, toc_pages

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "_build"
HTML = BUILD / "html"


def toc_files() -> list[str]:
    """Every file listed in _toc.yml (root first), as paths relative to ROOT without suffix."""
    return [page.relative_to(ROOT).with_suffix("").as_posix() for page in toc_pages(ROOT)]


def chapter_sources() -> list[Path]:
    """The toc's files that are notebooks (MyST markdown with jupytext front matter)."""
    return [page for page in toc_pages(ROOT) if page.exists() and is_chapter_source(page)]
