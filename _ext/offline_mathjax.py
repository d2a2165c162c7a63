"""Serve MathJax from the built site instead of a CDN, so the book reads offline.

MathJax 3 comes from an installed PyPI package (``sphinx-mathjax-offline``, pinned in
``constraints.txt``), never from the network. ``mathjax_path`` in ``_config.yml`` names the
MathJax component relative to ``_static/`` (e.g. ``mathjax/tex-chtml.js``); after a successful
HTML build this extension copies that component and the files it loads on demand (TeX
extensions, CHTML fonts, the menu and its accessibility tools) into ``_build/html/_static/``.
The other combined components of the package (SVG and MathML builds) are left out: about
10 MB instead of 24 MB in the published site.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path, PurePosixPath

from sphinx.application import Sphinx
from sphinx.errors import ConfigError, ExtensionError

DISTRIBUTION = "sphinx-mathjax-offline"
STATIC_PREFIX = "mathjax"
# Loaded on demand by tex-chtml.js: never by a page that uses CHTML output and TeX input.
UNUSED_SUBFOLDERS = ("output/svg", "input/mml", "input/asciimath")


def mathjax_source() -> Path:
    """The folder of MathJax 3 files shipped by the ``sphinx-mathjax-offline`` package."""
    spec = importlib.util.find_spec(DISTRIBUTION)
    if spec is None or spec.origin is None:
        raise ExtensionError(
            f"offline_mathjax: the package {DISTRIBUTION!r} is not installed; it ships the "
            "MathJax files the book serves. Run `./tasks.sh setup` (or "
            f"`pip install -c constraints.txt {DISTRIBUTION}`)."
        )
    folder = Path(spec.origin).parent / "static" / "mathjax"
    if not folder.is_dir():
        raise ExtensionError(f"offline_mathjax: {folder} is missing from {DISTRIBUTION}")
    return folder


def component_name(mathjax_path: str) -> str:
    """The component file named by ``mathjax_path`` (``mathjax/<component>.js``).

    Raises ConfigError when ``mathjax_path`` is a URL or lies outside ``_static/mathjax/``.
    """
    path = PurePosixPath(mathjax_path)
    if "://" in mathjax_path or mathjax_path.startswith("//"):
        raise ConfigError(
            f"mathjax_path is {mathjax_path!r}, a URL: the book serves MathJax itself; set "
            f"it to '{STATIC_PREFIX}/tex-chtml.js' in _config.yml (sphinx: config:)"
        )
    if len(path.parts) != 2 or path.parts[0] != STATIC_PREFIX or path.suffix != ".js":
        raise ConfigError(
            f"mathjax_path is {mathjax_path!r}; expected '{STATIC_PREFIX}/<component>.js', "
            "a component of the MathJax package relative to _static/"
        )
    return path.name


def copy_mathjax(source: Path, target: Path, component: str) -> None:
    """Copy ``component`` and the subfolders it may load from ``source`` into ``target``."""
    if not (source / component).is_file():
        available = sorted(p.name for p in source.glob("*.js"))
        raise ConfigError(f"MathJax component {component!r} not in {source}; have {available}")

    def ignore(folder: str, names: list[str]) -> list[str]:
        relative = Path(folder).relative_to(source).as_posix()
        skipped = []
        for name in names:
            rel = name if relative == "." else f"{relative}/{name}"
            top_level_bundle = relative == "." and name.endswith(".js") and name != component
            if top_level_bundle or rel.startswith(UNUSED_SUBFOLDERS):
                skipped.append(name)
        return skipped

    shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)


def check_config(app: Sphinx, config) -> None:
    component_name(config.mathjax_path)
    mathjax_source()


def copy_after_build(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    component = component_name(app.config.mathjax_path)
    copy_mathjax(mathjax_source(), Path(app.outdir) / "_static" / STATIC_PREFIX, component)


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", check_config)
    app.connect("build-finished", copy_after_build)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
