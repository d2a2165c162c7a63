"""Results one chapter saves for a later chapter to compare against (small JSON files).

A payload records how it was produced: the profile's name, the split sizes, ``maxlen`` and the
length-bucket edges (:func:`run_metadata` builds that part). A later chapter loads it and asks
:func:`mismatches` whether its own run is comparable before putting numbers side by side.

Files live in ``$ATTENTION_RESULTS_DIR``, else ``<repo>/_build/results``. The book build sets
``$ATTENTION_RESULTS_DIR`` to the folder of its execution cache, next to the executed notebooks
that wrote them (``_build/execution/<profile>-<hash>/results``, see ``_ext/execution_cache.py``),
and ``./tasks.sh test`` runs the chapters under nbval with a temporary one.

Saved by the chapters: ``ch05_comparison``, chapter 5's controlled comparison of review
encoders, per arm and seed (its keys are documented in :mod:`attention_course.comparison`,
which writes and reads it).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

RESULTS_ENV_VAR = "ATTENTION_RESULTS_DIR"
# What every payload must record so that a later chapter can check comparability.
REQUIRED_KEYS = ("profile", "sizes", "maxlen", "bucket_edges")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def results_dir() -> Path:
    """``$ATTENTION_RESULTS_DIR`` if set, else ``<repo>/_build/results``."""
    env = os.environ.get(RESULTS_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "_build" / "results"


def _path(name: str) -> Path:
    if not isinstance(name, str) or not _NAME.match(name) or name.startswith("."):
        raise ValueError(
            f"a results name is a plain file stem (letters, digits, '_', '-', '.'), got {name!r}"
        )
    return results_dir() / f"{name}.json"


def run_metadata(profile, splits, maxlen: int | None = None, edges=None) -> dict:
    """The part of a payload that says how results were produced.

    ``profile`` is a :class:`~attention_course.config.Profile`, ``splits`` an
    :class:`~attention_course.data.ImdbSplits`; ``maxlen`` defaults to the profile's and
    ``edges`` to :data:`attention_course.training.LENGTH_BUCKETS`.
    """
    if edges is None:
        from attention_course.training import LENGTH_BUCKETS as edges
    return {
        "profile": profile.name,
        "sizes": splits.sizes(),
        "num_words": splits.num_words,
        "maxlen": profile.maxlen if maxlen is None else int(maxlen),
        "bucket_edges": [int(e) for e in edges],
    }


def mismatches(saved: dict, current: dict, keys=("profile", "sizes", "num_words", "maxlen",
                                                  "bucket_edges")) -> list[str]:
    """Which of ``keys`` differ between a saved payload and the current run's metadata.

    Returns readable lines like ``"maxlen: saved 200, now 400"``; empty when comparable.
    """
    return [
        f"{key}: saved {saved.get(key)!r}, now {current.get(key)!r}"
        for key in keys
        if saved.get(key) != current.get(key)
    ]


def _to_json(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in a results file")


def save_results(name: str, payload: dict) -> Path:
    """Write ``payload`` as ``<results_dir>/<name>.json`` and return the path.

    The payload must hold ``profile``, ``sizes``, ``maxlen`` and ``bucket_edges`` (see
    :func:`run_metadata`); NumPy numbers and arrays are converted. The file is replaced
    atomically, so a reader never sees half of it.
    """
    if not isinstance(payload, dict):
        raise ValueError(f"payload must be a dict, got {type(payload).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise ValueError(
            f"results {name!r} must record {', '.join(REQUIRED_KEYS)}; missing: "
            f"{', '.join(missing)} (use results.run_metadata(profile, splits))"
        )
    path = _path(name)
    text = json.dumps(payload, default=_to_json, indent=1, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def load_results(name: str) -> dict | None:
    """The payload saved under ``name``, or None if no such results file exists."""
    path = _path(name)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(
            f"results file {path} is not valid JSON ({err}); delete it and re-run the chapter "
            "that writes it"
        ) from err
