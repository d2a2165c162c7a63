"""Where the built book is, and which pages _toc.yml lists."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "_build"
HTML = BUILD / "html"


def toc_files() -> list[str]:
    """Every file listed in _toc.yml (root first), as paths without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def chapter_sources() -> list[Path]:
    """The toc's files that are notebooks (MyST markdown with jupytext front matter)."""
    out = []
    for name in toc_files():
        path = ROOT / f"{name}.md"
        if path.exists() and "format_name: myst" in path.read_text()[:500]:
            out.append(path)
    return out


