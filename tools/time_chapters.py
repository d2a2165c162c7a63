"""Execute chapters the way the book build does and report the wall time of each.

Usage: python tools/time_chapters.py [--profile cpu] [book/02_basic_rnn.md ...]
(default: every MyST notebook in book/). Prints one line per chapter and exits non-zero if a
chapter fails. Used to check each chapter's time budget per profile.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbclient

ROOT = Path(__file__).resolve().parents[1]


def chapters(paths: list[str]) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    return [p for p in sorted((ROOT / "book").glob("*.md"))
            if "format_name: myst" in p.read_text()[:400]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*")
    parser.add_argument("--profile", default=os.environ.get("ATTENTION_PROFILE", "cpu"))
    args = parser.parse_args()
    os.environ["ATTENTION_PROFILE"] = args.profile
    failed = 0
    for path in chapters(args.chapters):
        notebook = jupytext.read(path)
        start = time.perf_counter()
        try:
            client = nbclient.NotebookClient(
                notebook, timeout=1800, kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
            )
            client.execute()
            status = "ok"
        except Exception as err:  # report and go on with the next chapter
            status = f"FAILED: {type(err).__name__}: {str(err)[-300:]}"
            failed += 1
        print(f"{path.name:32} profile={args.profile:5} {time.perf_counter() - start:7.1f} s"
              f"  {status}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
