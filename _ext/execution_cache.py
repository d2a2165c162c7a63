"""Incremental book builds: a chapter is executed again only when something it depends on changed.

myst-nb's ``cache`` execution mode (jupyter-cache) reuses a notebook's outputs as long as its code
cells are unchanged. A chapter's outputs also depend on what the code cells cannot show; this
extension covers that, and reports progress:

- **The package, the data, the pinned dependencies, the profile and the Keras backend.** Their
  hash names the cache folder, ``_build/execution/<profile>-<hash>/``: a change to ``src/``,
  ``data/`` or ``constraints.txt`` (the Sphinx config value ``execution_cache_inputs``) or another
  ``ATTENTION_PROFILE`` gives an empty cache, so every chapter runs again. Going back to an earlier
  state finds its folder still there (the most recent ``KEEP_CACHES`` are kept).
- **Results that one chapter saves for another** (:mod:`attention_course.results`). They live
  with the executed notebooks that wrote them, in ``<cache folder>/results/``
  (``ATTENTION_RESULTS_DIR`` is set for the kernels). A chapter that loads results is executed
  again when an earlier chapter that saves them is executed (names read from the literal
  arguments of ``save_results``/``load_results``; a non-literal argument counts as any name), and a
  writer whose results file is missing is executed again.
- **Pages Sphinx would not re-read.** Sphinx re-reads a page when its source file changed; a page
  is also re-read when the outputs it shows are not those in the current cache (new cache folder,
  evicted or deleted entry).

``ATTENTION_BUILD_CHAPTER=book/NN_name`` (``./tasks.sh chapter N``) executes that chapter even when
its cached outputs are current (and the earlier chapters whose results it loads, when those are not
in the cache), and leaves other built chapters that would need executing as they are: their pages
keep their earlier outputs until the next full build. Chapters that have no page yet are executed.

What a chapter reads besides these (another file of the repository, the machine's libraries
outside ``constraints.txt``) is not seen: ``ATTENTION_FRESH_BUILD=1 ./tasks.sh book`` starts from
an empty cache.

Each notebook read prints one line (to stderr, next to Sphinx's warnings): executed and how long,
or taken from the cache. Only ``execute_notebooks: cache`` activates any of this; chapters are read
one after the other, in name order, so that a writer runs before its readers (not parallel safe).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sphinx.application import Sphinx

# Cache folders kept: the current one and the most recently used others (profiles, earlier src/).
KEEP_CACHES = 4
RESULTS_ENV_VAR = "ATTENTION_RESULTS_DIR"
CHAPTER_ENV_VAR = "ATTENTION_BUILD_CHAPTER"
MYST_MARK = "format_name: myst"
_CALL = re.compile(r"\b(save|load)_results\(\s*(?:(['\"])([A-Za-z0-9_.-]+)\2)?")


# --- what a chapter's outputs depend on (pure functions, tested in tests/test_book_build.py) --


def inputs_digest(root: Path, inputs: list[str], profile: str, backend: str) -> str:
    """SHA-256 (hex) of the files under ``inputs`` (paths relative to ``root``), the profile and
    the Keras backend.

    Files are taken in sorted order with their relative paths, so a rename counts as a change;
    ``__pycache__``, ``*.egg-info`` and names starting with ``.`` are skipped (bytecode, install
    metadata, editor files). A missing input counts as such, so it cannot pass unnoticed.
    """
    digest = hashlib.sha256()
    digest.update(f"profile={profile}\0backend={backend}\0".encode())
    for name in sorted(inputs):
        top = root / name
        if not top.exists():
            digest.update(f"missing:{name}\0".encode())
            continue
        files = [top] if top.is_file() else sorted(
            path for path in top.rglob("*") if path.is_file() and not _skipped(path, top))
        for path in files:
            digest.update(f"{path.relative_to(root).as_posix()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _skipped(path: Path, top: Path) -> bool:
    parts = path.relative_to(top).parts
    return any(p.startswith(".") or p == "__pycache__" or p.endswith(".egg-info") for p in parts)


@dataclass(frozen=True)
class ResultsUse:
    """The results files a chapter saves and loads; ``*_any``: a call with a non-literal name."""

    saves: frozenset[str] = frozenset()
    loads: frozenset[str] = frozenset()
    saves_any: bool = False
    loads_any: bool = False

    def feeds(self, reader: ResultsUse) -> bool:
        """True when results this chapter saves may be ones ``reader`` loads."""
        if not (self.saves or self.saves_any) or not (reader.loads or reader.loads_any):
            return False
        return self.saves_any or reader.loads_any or bool(self.saves & reader.loads)


def results_use(source: str) -> ResultsUse:
    """Which results a chapter's source saves and loads (``save_results("name", ...)`` calls)."""
    found: dict[str, set[str]] = {"save": set(), "load": set()}
    wildcard: dict[str, bool] = {"save": False, "load": False}
    for match in _CALL.finditer(source):
        kind, name = match.group(1), match.group(3)
        if name is None:
            wildcard[kind] = True
        else:
            found[kind].add(name)
    return ResultsUse(frozenset(found["save"]), frozenset(found["load"]),
                      wildcard["save"], wildcard["load"])


def readers_to_rerun(order: list[str], uses: dict[str, ResultsUse],
                     executing: set[str]) -> set[str]:
    """Chapters not in ``executing`` that load results an earlier executing chapter saves.

    ``order`` is the reading order (a writer must come before its readers); the answer is
    transitive (a reader that is executed again may itself feed later readers).
    """
    running = set(executing)
    added = set()
    for position, reader in enumerate(order):
        if reader in running:
            continue
        if any(writer in running and uses[writer].feeds(uses[reader])
               for writer in order[:position]):
            running.add(reader)
            added.add(reader)
    return added


def is_notebook(path: Path) -> bool:
    """A MyST-Markdown notebook: jupytext front matter with ``format_name: myst``."""
    return path.suffix == ".md" and MYST_MARK in path.read_text(encoding="utf8")[:600]


# --- the build -------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What this build does with each notebook; set up in ``builder-inited``."""

    key: str
    folder: Path
    chapter: str | None
    cache: object = None
    notebooks: dict[str, Path] = field(default_factory=dict)
    action: dict[str, str] = field(default_factory=dict)  # docname -> "execute" or "cache"
    skipped: list[str] = field(default_factory=list)
    started: dict[str, float] = field(default_factory=dict)


def _say(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def _profile() -> str:
    name = os.environ.get("ATTENTION_PROFILE", "").strip()
    if not name:
        from attention_course.config import get_profile  # imports TensorFlow to look for a GPU

        name = get_profile().name
        os.environ["ATTENTION_PROFILE"] = name  # the kernels then agree without looking again
    return name.lower()


def _set_up(app: Sphinx) -> None:
    """Choose the cache folder for the current inputs and point myst-nb and the kernels at it."""
    config = app.env.mystnb_config
    app.attention_plan = None
    if config.execution_mode != "cache":
        return
    root = Path(app.srcdir)
    profile = _profile()
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    digest = inputs_digest(root, list(app.config.execution_cache_inputs), profile, backend)
    key = f"{profile}-{digest[:12]}"
    caches = Path(app.outdir).parent / "execution"
    folder = caches / key
    folder.mkdir(parents=True, exist_ok=True)
    folder.touch()  # most recently used: pruning keeps it
    _prune(caches, keep=KEEP_CACHES)
    # Not a Sphinx config value: a new folder must not make Sphinx re-read every page (the
    # pages whose outputs are not in this cache are re-read by _outdated, see the docstring).
    app.env.mystnb_config = config.copy(execution_cache_path=str(folder / "jupyter_cache"))
    os.environ[RESULTS_ENV_VAR] = str(folder / "results")
    from jupyter_cache import get_cache

    app.attention_plan = _Plan(key=key, folder=folder, chapter=os.environ.get(CHAPTER_ENV_VAR)
                               or None, cache=get_cache(folder / "jupyter_cache"))
    _say(f"profile {profile}; execution cache {folder.relative_to(root)}")


def _prune(caches: Path, keep: int) -> None:
    folders = sorted((p for p in caches.iterdir() if p.is_dir()),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in folders[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _notebook(app: Sphinx, docname: str):
    """The notebook as myst-nb reads it (what jupyter-cache matches)."""
    from myst_nb.core.read import create_nb_reader

    path = app.attention_plan.notebooks[docname]
    text = path.read_text(encoding="utf8")
    reader = create_nb_reader(str(path), app.env.myst_config, app.env.mystnb_config, text)
    return reader.read(text)


def _record(app: Sphinx, docname: str):
    """The cache record holding this notebook's outputs, or None (it would be executed)."""
    try:
        return app.attention_plan.cache.match_cache_notebook(_notebook(app, docname))
    except KeyError:
        return None


def _write_cached_notebook(app: Sphinx, docname: str) -> None:
    """Write the notebook with its cached outputs to ``_build/jupyter_execute``.

    myst-nb 1.4 renders a cache hit from the merged notebook but writes the input notebook,
    without outputs, to ``jupyter_execute/<docname>.ipynb``; tests/book reads those files.
    """
    import nbformat

    _, merged = app.attention_plan.cache.merge_match_into_notebook(_notebook(app, docname))
    path = Path(app.env.mystnb_config.output_folder).joinpath(*f"{docname}.ipynb".split("/"))
    path.write_text(nbformat.writes(merged), encoding="utf8")


def _identity(plan: _Plan, record) -> tuple | None:
    return None if record is None else (plan.key, record.pk, record.created.isoformat())


def _evict(plan: _Plan, docname: str) -> None:
    """Remove every cached execution of this notebook from the current cache."""
    path = str(plan.notebooks[docname])
    for record in plan.cache.list_cache_records():
        if record.uri == path:
            plan.cache.remove_cache(record.pk)


def _outdated(app: Sphinx, env, added: set, changed: set, removed: set) -> list[str]:
    """Pages to re-read besides those whose source changed, and which notebooks execute."""
    plan: _Plan | None = app.attention_plan
    if plan is None:
        return []
    plan.notebooks = {doc: Path(env.doc2path(doc)) for doc in sorted(env.found_docs)
                      if is_notebook(Path(env.doc2path(doc)))}
    order = list(plan.notebooks)
    if plan.chapter is not None:
        if plan.chapter not in plan.notebooks:
            raise ValueError(f"{CHAPTER_ENV_VAR}={plan.chapter!r} names no notebook of this "
                             f"book; notebooks: {', '.join(order)}")
        _evict(plan, plan.chapter)
    records = {doc: _record(app, doc) for doc in order}
    uses = {doc: results_use(path.read_text(encoding="utf8"))
            for doc, path in plan.notebooks.items()}
    results = plan.folder / "results"
    for doc, use in uses.items():  # a writer whose results are gone runs again
        if records[doc] is not None and any(
                not (results / f"{name}.json").is_file() for name in use.saves):
            _evict(plan, doc)
            records[doc] = None
    shown = getattr(env, "attention_outputs", {})
    # A notebook is read when its source changed, when it must be executed, or when its page
    # shows other outputs than the current cache holds.
    to_read = {doc for doc in order
               if doc in added or doc in changed or records[doc] is None
               or shown.get(doc) != _identity(plan, records[doc])}
    executing = {doc for doc in to_read if records[doc] is None}
    executing |= readers_to_rerun(order, uses, executing)
    for doc in executing:
        if records[doc] is not None:
            _evict(plan, doc)
            records[doc] = None
    to_read |= executing
    if plan.chapter is not None:
        # Execute the chapter and the writers of results it needs that are not in this cache;
        # leave the other chapters that have a page as they are (never built ones execute).
        needed = {plan.chapter}
        for writer in reversed(order[:order.index(plan.chapter)]):
            if records[writer] is None and any(
                    uses[writer].feeds(uses[reader]) for reader in needed):
                needed.add(writer)
        plan.skipped = sorted(doc for doc in executing - needed if doc in env.all_docs)
        to_read -= set(plan.skipped)
        executing -= set(plan.skipped)
    plan.action = {doc: "execute" if doc in executing else "cache" for doc in to_read}
    return sorted(to_read)


def _before_reading(app: Sphinx, env, docnames: list[str]) -> None:
    plan: _Plan | None = app.attention_plan
    if plan is None:
        return
    for doc in plan.skipped:
        if doc in docnames:
            docnames.remove(doc)
    counts = {a: sum(1 for d in docnames if plan.action.get(d) == a) for a in ("execute", "cache")}
    unchanged = len(plan.notebooks) - sum(counts.values()) - len(plan.skipped)
    parts = [f"{counts['execute']} to execute", f"{counts['cache']} from the cache",
             f"{unchanged} unchanged"]
    if plan.skipped:
        parts.append(f"{len(plan.skipped)} left as built before")
    _say(f"{len(plan.notebooks)} notebooks: " + ", ".join(parts))
    for doc in plan.skipped:
        _say(f"{_shown_path(app, doc):34} left as built before (`./tasks.sh book` updates it)")


def _shown_path(app: Sphinx, docname: str) -> str:
    return Path(app.env.doc2path(docname)).relative_to(app.srcdir).as_posix()


def _start(app: Sphinx, docname: str, source: list[str]) -> None:
    plan: _Plan | None = app.attention_plan
    if plan is None or docname not in plan.action:
        return
    plan.started[docname] = time.perf_counter()
    if plan.action[docname] == "execute":
        _say(f"{_shown_path(app, docname):34} executing ...")


def _finish(app: Sphinx, doctree) -> None:
    plan: _Plan | None = app.attention_plan
    docname = app.env.docname
    if plan is None or docname not in plan.action:
        return
    seconds = time.perf_counter() - plan.started.pop(docname, time.perf_counter())
    outputs = app.env.attention_outputs = getattr(app.env, "attention_outputs", {})
    outputs[docname] = _identity(plan, _record(app, docname))
    if plan.action[docname] == "cache":
        _write_cached_notebook(app, docname)
    what = {"execute": f"executed in {seconds:.1f} s",
            "cache": f"from the cache ({seconds:.1f} s)"}[plan.action[docname]]
    _say(f"{_shown_path(app, docname):34} {what}")


def _purge(app: Sphinx, env, docname: str) -> None:
    getattr(env, "attention_outputs", {}).pop(docname, None)


def setup(app: Sphinx) -> dict:
    app.add_config_value("execution_cache_inputs", ["src", "data", "constraints.txt"], "env")
    # After myst-nb has made env.mystnb_config (builder-inited, priority 500).
    app.connect("builder-inited", _set_up, priority=900)
    app.connect("env-get-outdated", _outdated)
    app.connect("env-before-read-docs", _before_reading)
    app.connect("source-read", _start)
    app.connect("doctree-read", _finish)
    app.connect("env-purge-doc", _purge)
    return {"version": "1.0", "parallel_read_safe": False, "parallel_write_safe": True}
