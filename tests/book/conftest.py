"""Fixtures for checks of the built book (run after `jupyter-book build`)."""

from pathlib import Path

import pytest
from book_paths import HTML


@pytest.fixture(scope="session")
def html_dir() -> Path:
    if not (HTML / "index.html").exists():
        pytest.fail(f"no built book at {HTML}: run `./tasks.sh book` first")
    return HTML
