"""Runnable ``.ipynb`` copies of the chapters, and the page buttons that open them.

The chapters are MyST Markdown (``book/*.md``). Jupyter opens those with jupytext, but Colab
and a plain download need a real notebook. For every chapter page this extension writes
``_build/html/_notebooks/<page>.ipynb``: the chapter converted by jupytext, without outputs,
with one cell in front that installs the course when it is missing:

* if ``attention_course`` cannot be imported, it clones the course repository (code and the
  vendored IMDB reviews, ``data/imdb``) and pip-installs that clone (with ``tensorflow-cpu``
  only where no TensorFlow is installed: Colab has its own);
* it points ``$ATTENTION_DATA_DIR`` at the clone's ``data/imdb``, because an installed (not
  editable) package cannot find the data beside its source: ``attention_course.data``
  reads that variable first, and nothing is downloaded while the chapter runs.

In the repository's own environment (``pip install -e .``) the cell does nothing.

On each chapter page the theme's header buttons are retargeted: the download menu's
``.ipynb`` entry serves this notebook, and the Colab launch button opens it from the branch
that the publishing workflow (``.github/workflows/pages.yml``) pushes the ``_notebooks``
folder to (Colab only opens ``.ipynb`` files from GitHub). The Binder button keeps the theme's
target, the ``.md`` chapter, which Binder opens as a notebook through jupytext (``binder/``).

Config values (``_config.yml``, ``sphinx: config:``): ``runnable_notebooks_dir``
(default ``_notebooks``) and ``runnable_notebooks_branch`` (default ``notebooks``).
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

INSTALL_CELL = '''\
# Run this chapter outside the book's repository (Colab, a downloaded copy):
# when the course package is missing, clone the course (its code and the
# IMDB reviews it reads) and install it. In the course's environment this
# cell does nothing.
import importlib
import importlib.util
import os
import subprocess
import sys

COURSE_REPOSITORY = "{repository}"
COURSE_BRANCH = "{branch}"
COURSE_DIR = os.path.abspath("attention-course")
if importlib.util.find_spec("attention_course") is None:
    if not os.path.isdir(COURSE_DIR):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1",
                        "--branch", COURSE_BRANCH, COURSE_REPOSITORY,
                        COURSE_DIR], check=True)
    # Colab has TensorFlow already; elsewhere install the CPU build.
    has_tf = importlib.util.find_spec("tensorflow") is not None
    extras = "notebook" if has_tf else "cpu,notebook"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    f"{{COURSE_DIR}}[{{extras}}]"], check=True)
    importlib.invalidate_caches()
if os.path.isdir(os.path.join(COURSE_DIR, "data", "imdb")):
    # The data came with the clone: nothing is downloaded later.
    os.environ.setdefault("ATTENTION_DATA_DIR",
                          os.path.join(COURSE_DIR, "data", "imdb"))
'''


def install_cell_source(repository: str, branch: str) -> str:
    """The source of the notebook's first cell for a repository URL and branch."""
    if not repository.startswith("https://"):
        raise ValueError(f"repository must be an https:// URL to clone, got {repository!r}")
    return INSTALL_CELL.format(repository=repository.rstrip("/"), branch=branch)


def runnable_notebook(source: Path, repository: str, branch: str) -> nbformat.NotebookNode:
    """The chapter ``source`` (MyST Markdown) as a notebook whose first cell installs the course.

    Cells keep their tags (``hide-input``, ``raises-exception``); ids are deterministic, so
    rebuilding an unchanged chapter writes an identical file. Raises ValueError when
    ``source`` has no jupytext front matter (it is not a notebook).
    """
    text = Path(source).read_text(encoding="utf-8")
    if "jupytext:" not in text.split("\n---", 1)[0]:
        raise ValueError(f"{source} has no jupytext front matter: it is not a MyST notebook")
    notebook = jupytext.reads(text, fmt="md:myst")
    notebook.metadata.pop("jupytext", None)
    notebook.metadata.setdefault(
        "kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"}
    )
    install = nbformat.v4.new_code_cell(install_cell_source(repository, branch))
    install.metadata["tags"] = ["install-course"]
    notebook.cells.insert(0, install)
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:03d}"
    nbformat.validate(notebook)
    return notebook


def colab_url(colab: str, repository: str, branch: str, notebook_path: str) -> str:
    """Colab's address for ``notebook_path`` on ``branch`` of a GitHub ``repository``."""
    prefix = "https://github.com/"
    if not repository.startswith(prefix):
        raise ValueError(f"Colab opens notebooks from GitHub only; repository is {repository!r}")
    org_repo = repository[len(prefix):].strip("/")
    return f"{colab.rstrip('/')}/github/{org_repo}/blob/{branch}/{notebook_path}"


def _theme_options(app: Sphinx) -> dict:
    return app.config.html_theme_options or {}


def _is_markdown_notebook(app: Sphinx, pagename: str) -> bool:
    if pagename not in app.env.all_docs:
        return False
    source = Path(app.env.doc2path(pagename))
    return source.suffix == ".md" and "kernelspec" in app.env.metadata.get(pagename, {})


def _retarget_buttons(header_buttons: list[dict], download_url: str,
                      colab: str | None) -> None:
    """Point the theme's ``.ipynb`` download entry and Colab button at our notebook."""
    notebook_button = {
        "type": "link", "url": download_url, "text": ".ipynb", "icon": "fas fa-code",
        "tooltip": "Download as a runnable notebook", "label": "download-notebook-button",
    }
    for group in header_buttons:
        if group.get("label") == "download-buttons":
            buttons = group["buttons"]
            others = [b for b in buttons if b.get("label") != "download-notebook-button"]
            buttons[:] = [notebook_button, *others]
        if group.get("label") == "launch-buttons" and colab:
            for button in group["buttons"]:
                if button.get("text") == "Colab":
                    button["url"] = colab


def add_runnable_notebook(app: Sphinx, pagename: str, templatename: str, context: dict,
                          doctree) -> None:
    if app.builder.format != "html" or not _is_markdown_notebook(app, pagename):
        return
    options = _theme_options(app)
    repository = options.get("repository_url", "")
    if not repository.startswith("https://"):
        raise ExtensionError(
            f"runnable_notebooks: repository.url in _config.yml is {repository!r}; the "
            "notebooks' first cell clones the course from it, so it must be an https:// URL"
        )
    branch = options.get("repository_branch") or "main"
    relative = f"{app.config.runnable_notebooks_dir}/{pagename}.ipynb"
    notebook = runnable_notebook(Path(app.env.doc2path(pagename)), repository, branch)
    target = Path(app.outdir) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)

    colab_base = (options.get("launch_buttons") or {}).get("colab_url", "")
    colab = None
    if colab_base:
        colab = colab_url(colab_base, repository, app.config.runnable_notebooks_branch,
                          f"{pagename}.ipynb")
    _retarget_buttons(context.get("header_buttons", []), context["pathto"](relative, 1), colab)


def setup(app: Sphinx) -> dict:
    app.add_config_value("runnable_notebooks_dir", "_notebooks", "html")
    app.add_config_value("runnable_notebooks_branch", "notebooks", "html")
    # After sphinx-book-theme (priority 501) has built the page's header buttons.
    app.connect("html-page-context", add_runnable_notebook, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
