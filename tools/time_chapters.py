"""Execute chapters the way the book build does and report the wall time of each.

Usage: python tools/time_chapters.py [--profile cpu] [--report] [book/02_basic_rnn.md ...]
(default: every MyST notebook in book/). Prints one line per chapter and exits non-zero if a
chapter fails. Used to check each chapter's time budget per profile. With ``--report`` it also
prints, per chapter, the glued values that are percentages or whose names match ``--glue``
(accuracies: key numbers of a run) and the first line of every stderr output (warnings that
would show on the page).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import jupytext
import nbclient

ROOT = Path(__file__).resolve().parents[1]
GLUE_PREFIX = "application/papermill.record/"  # myst-nb's glue(..., display=False)


def chapters(paths: list[str]) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    return [p for p in sorted((ROOT / "book").glob("*.md"))
            if "format_name: myst" in p.read_text()[:400]]


def report(notebook, pattern: str) -> list[str]:
    """Lines naming the glued percentages and values whose names match ``pattern``, and
    the stderr outputs."""
    lines = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            glued = output.get("metadata", {}).get("scrapbook", {}).get("name")
            data = output.get("data", {})
            text = data.get(GLUE_PREFIX + "text/plain", data.get("text/plain", ""))
            if glued and len(text) <= 60 and (
                    re.search(pattern, glued) or text.strip("'\"").endswith("%")):
                lines.append(f"    {glued} = {text}")
            if output.get("name") == "stderr":
                first = output.get("text", "").strip().splitlines()[:1]
                lines.append(f"    stderr: {first[0][:150] if first else ''}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*")
    parser.add_argument("--profile", default=os.environ.get("ATTENTION_PROFILE", "cpu"))
    parser.add_argument("--report", action="store_true",
                        help="print glued accuracies and stderr outputs of each chapter")
    parser.add_argument("--glue", default="acc",
                        help="regex of glue names --report prints (besides percentages)")
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
        if args.report:
            for line in report(notebook, args.glue):
                print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
