"""The publishing machinery: book extensions in _ext/, workflows, Binder, CI.

The extensions are tested as functions here (fast, no build); tests/book/ checks the built
site that uses them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "01_imdb_reviews.md"
REPOSITORY = "https://github.com/example-org/example-course"


def load_extension(name: str):
    """Import ``_ext/<name>.py`` (the book's local Sphinx extensions) as a module."""
    spec = importlib.util.spec_from_file_location(f"_ext_{name}", ROOT / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


notebooks = load_extension("runnable_notebooks")
mathjax = load_extension("offline_mathjax")
scripts = load_extension("unique_scripts")


def book_config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


# --- runnable notebooks -------------------------------------------------------------------


def test_runnable_notebook_starts_with_the_install_cell_and_keeps_the_chapter():
    notebook = notebooks.runnable_notebook(CHAPTER, REPOSITORY, "main")
    first = notebook.cells[0]
    assert first.cell_type == "code" and first.metadata["tags"] == ["install-course"]
    assert f'COURSE_REPOSITORY = "{REPOSITORY}"' in first.source
    compile(first.source, "install-cell", "exec")
    chapter = notebooks.jupytext.read(CHAPTER)
    assert [c.source for c in notebook.cells[1:]] == [c.source for c in chapter.cells]
    assert [c.metadata.get("tags") for c in notebook.cells[1:]] == [
        c.metadata.get("tags") for c in chapter.cells]
    assert "jupytext" not in notebook.metadata
    assert notebook.metadata["kernelspec"]["name"] == "python3"


def test_runnable_notebook_is_the_same_file_on_every_build():
    first = nbformat.writes(notebooks.runnable_notebook(CHAPTER, REPOSITORY, "main"))
    second = nbformat.writes(notebooks.runnable_notebook(CHAPTER, REPOSITORY, "main"))
    assert first == second


def test_runnable_notebook_rejects_plain_markdown(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Just a page\n\nNo front matter.\n")
    with pytest.raises(ValueError, match="no jupytext front matter"):
        notebooks.runnable_notebook(page, REPOSITORY, "main")


def test_install_cell_needs_an_https_repository():
    with pytest.raises(ValueError, match="https://"):
        notebooks.install_cell_source("git@github.com:org/repo.git", "main")


def run_install_cell(monkeypatch, tmp_path, installed: set[str]) -> tuple[list, str | None]:
    """Execute the install cell in ``tmp_path`` with ``installed`` packages importable.

    ``git clone`` and ``pip install`` are recorded instead of run; the fake clone creates
    the clone's data folder the way a real one would. Returns (commands, $ATTENTION_DATA_DIR).
    """
    commands = []
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name in ("attention_course", "tensorflow"):
            return real_find_spec("json") if name in installed else None
        return real_find_spec(name, *args, **kwargs)

    def fake_run(command, check):
        assert check is True
        commands.append(command)
        if command[:2] == ["git", "clone"]:
            (Path(command[-1]) / "data" / "imdb").mkdir(parents=True)
        return SimpleNamespace(returncode=0)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setenv("ATTENTION_DATA_DIR", "")
    monkeypatch.delenv("ATTENTION_DATA_DIR")
    exec(notebooks.install_cell_source(REPOSITORY, "main"), {})
    return commands, os.environ.get("ATTENTION_DATA_DIR")


def test_install_cell_does_nothing_where_the_course_is_installed(monkeypatch, tmp_path):
    commands, data = run_install_cell(monkeypatch, tmp_path, {"attention_course"})
    assert commands == []
    assert data is None


def test_install_cell_clones_and_installs_with_cpu_tensorflow(monkeypatch, tmp_path):
    commands, data = run_install_cell(monkeypatch, tmp_path, set())
    clone = str(tmp_path / "attention-course")
    assert commands[0] == ["git", "clone", "--quiet", "--depth", "1", "--branch", "main",
                           REPOSITORY, clone]
    assert commands[1] == [sys.executable, "-m", "pip", "install", "--quiet",
                           f"{clone}[cpu,notebook]"]
    assert data == str(tmp_path / "attention-course" / "data" / "imdb")


def test_install_cell_keeps_colabs_tensorflow(monkeypatch, tmp_path):
    commands, _ = run_install_cell(monkeypatch, tmp_path, {"tensorflow"})
    assert commands[1][-1].endswith("attention-course[notebook]")


def test_install_cell_extras_exist_in_pyproject():
    pyproject = (ROOT / "pyproject.toml").read_text()
    for extra in ("cpu", "notebook"):
        assert re.search(rf"^{extra} = \[", pyproject, re.M), f"no extra {extra!r}"


def test_colab_url_opens_the_notebook_from_the_notebooks_branch():
    url = notebooks.colab_url("https://colab.research.google.com/", REPOSITORY, "notebooks",
                              "book/01_imdb_reviews.ipynb")
    assert url == ("https://colab.research.google.com/github/example-org/example-course/"
                   "blob/notebooks/book/01_imdb_reviews.ipynb")
    with pytest.raises(ValueError, match="GitHub"):
        notebooks.colab_url("https://colab.research.google.com", "https://gitlab.com/a/b",
                            "notebooks", "x.ipynb")


def test_buttons_are_retargeted_to_the_runnable_notebook():
    buttons = [
        {"label": "download-buttons", "buttons": [
            {"label": "download-notebook-button", "url": "_sources/x.ipynb"},
            {"label": "download-source-button", "url": "_sources/x.md"}]},
        {"label": "launch-buttons", "buttons": [
            {"text": "Binder", "url": "binder-url"}, {"text": "Colab", "url": "x.md"}]},
    ]
    notebooks._retarget_buttons(buttons, "../_notebooks/x.ipynb", "colab/x.ipynb")
    download = buttons[0]["buttons"]
    assert [b["url"] for b in download] == ["../_notebooks/x.ipynb", "_sources/x.md"]
    assert [b["url"] for b in buttons[1]["buttons"]] == ["binder-url", "colab/x.ipynb"]


# --- offline MathJax ----------------------------------------------------------------------


def test_mathjax_path_must_be_a_local_component():
    assert mathjax.component_name("mathjax/tex-chtml.js") == "tex-chtml.js"
    for bad in ("https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js",
                "tex-chtml.js", "mathjax/es5/tex-chtml.js", "mathjax/tex-chtml.css"):
        with pytest.raises(mathjax.ConfigError):
            mathjax.component_name(bad)


def test_book_config_serves_mathjax_from_the_site():
    config = book_config()["sphinx"]
    assert mathjax.component_name(config["config"]["mathjax_path"]) == "tex-chtml.js"
    for name, folder in config["local_extensions"].items():
        assert (ROOT / folder / f"{name}.py").is_file(), f"local extension {name} missing"


def test_copy_mathjax_copies_the_component_fonts_and_extensions_only(tmp_path):
    mathjax.copy_mathjax(mathjax.mathjax_source(), tmp_path, "tex-chtml.js")
    assert (tmp_path / "tex-chtml.js").is_file()
    fonts = list((tmp_path / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert len(fonts) > 10
    assert (tmp_path / "input" / "tex" / "extensions" / "boldsymbol.js").is_file()
    assert not (tmp_path / "tex-svg.js").exists()
    assert not (tmp_path / "output" / "svg").exists()
    with pytest.raises(mathjax.ConfigError, match="not in"):
        mathjax.copy_mathjax(mathjax.mathjax_source(), tmp_path / "x", "tex-nothing.js")


# --- repeated scripts ---------------------------------------------------------------------


def test_repeated_inline_scripts_are_dropped():
    def js(filename, **attributes):
        return SimpleNamespace(filename=filename, attributes=attributes)

    page = [js(None, body="const A = 1"), js("a.js"), js("", body="const A = 1"),
            js("a.js"), js("a.js", defer="defer"), js(None, body="const B = 2")]
    context = {"script_files": page}
    scripts.drop_repeated_scripts(None, "p", "page.html", context, None)
    assert context["script_files"] == [page[0], page[1], page[4], page[5]]


# --- repository settings, workflows, Binder, CI -------------------------------------------


def test_repository_url_is_set_once_and_buttons_use_it():
    config = book_config()
    assert config["repository"]["url"].startswith("https://github.com/")
    assert all(config["html"][b] for b in
               ("use_repository_button", "use_edit_page_button", "use_issues_button"))
    assert config["launch_buttons"]["colab_url"] and config["launch_buttons"]["binderhub_url"]


def workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def steps_of(job: dict) -> tuple[list[str], list[str]]:
    uses = [s.get("uses", "") for s in job["steps"]]
    runs = [s.get("run", "") for s in job["steps"]]
    return uses, runs


def test_pages_workflow_builds_uploads_and_deploys():
    jobs = workflow("pages.yml")["jobs"]
    uses, runs = steps_of(jobs["build"])
    assert any("./tasks.sh book" in r for r in runs)
    assert jobs["build"]["env"]["ATTENTION_PROFILE"] == "cpu"
    upload = next(s for s in jobs["build"]["steps"]
                  if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_build/html"
    deploy = jobs["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert any(u.startswith("actions/deploy-pages@") for u in steps_of(deploy)[0])
    assert any("notebooks" in r and "git push" in r for r in runs)


def test_ci_workflow_runs_the_test_command_in_the_smoke_profile():
    job = workflow("ci.yml")["jobs"]["test"]
    assert job["env"]["ATTENTION_PROFILE"] == "smoke"
    assert any(".ci/run" in r for r in steps_of(job)[1])
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert "./tasks.sh test" in ci_run and ".ci/install-browser" in ci_run
    assert "apt-get install" in (ROOT / ".ci" / "install-browser").read_text()
    # The grader's sandbox: bubblewrap installed, and a container allowed to use it.
    assert ".ci/install-bwrap" in ci_run
    assert "install -y -qq" in (ROOT / ".ci" / "install-bwrap").read_text()
    assert "--privileged" in job["container"]["options"]


def test_binder_installs_the_course_with_jupytext_from_the_pins():
    lines = [line.strip() for line in (ROOT / "binder" / "requirements.txt").read_text()
             .splitlines() if line.strip() and not line.startswith("#")]
    assert "-c ../constraints.txt" in lines
    assert (ROOT / "binder" / "../constraints.txt").resolve().is_file()
    assert any(line.startswith("-e .[") and "notebook" in line for line in lines)
    assert "jupytext" in lines
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK) and "set-default-viewer" in post_build.read_text()
