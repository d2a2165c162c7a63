"""Text a submission controls, made bounded and inert before an instructor or student sees it.

Exception messages, names, reprs, printed text and file names come from the student's code.
The grader caps their length when it records them (:func:`cap`), escapes control and
formatting characters (terminal escapes, carriage returns, bidirectional overrides) wherever it
shows them (:func:`escape_controls`), wraps them in time linear in their length (:func:`wrap`)
and turns file names into plain ones (:func:`safe_file_name`).
"""

from __future__ import annotations

import re

_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def cap(text: str, limit: int) -> str:
    """``text`` cut to at most about ``limit`` characters, saying how much was cut."""
    text = str(text)
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return f"{text[:limit]}... [{cut:,} more characters]"


def _escape(char: str) -> str:
    code = ord(char)
    if char == "\t":
        return "    "
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else \
        f"\\U{code:08x}"


def escape_controls(text: str, keep_newlines: bool = True) -> str:
    """``text`` with every non-printable character written as an escape (``\\x1b``, ``\\u202e``):
    controls, formatting characters, line separators, unusual spaces. Newlines stay unless
    ``keep_newlines`` is False; tabs become four spaces."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or (keep_newlines and char == "\n") else _escape(char)
        for char in text
    )


def wrap(text: str, width: int, indent: str = "  ") -> list[str]:
    """``text``'s lines wrapped at spaces to ``width`` (continuations indented by ``indent``),
    words longer than a line cut; time linear in the length of ``text``."""
    width = max(width, len(indent) + 10)
    lines: list[str] = []
    for line in text.split("\n"):
        start, prefix, room = 0, "", width
        while len(line) - start > room:
            cut = line.rfind(" ", start, start + room + 1)
            if cut <= start:  # no space in reach: cut the word
                cut, resume = start + room, start + room
            else:
                resume = cut + 1
            lines.append(prefix + line[start:cut])
            start, prefix, room = resume, indent, width - len(indent)
        lines.append(prefix + line[start:])
    return lines


def safe_file_name(name: str, limit: int = 80) -> str:
    """``name`` as a plain file name: letters, digits and ``._-`` (runs of anything else become
    ``_``), at most ``limit`` characters with the suffix kept, never hidden or empty."""
    cleaned = _FILE_NAME.sub("_", str(name)).lstrip(".")
    if len(cleaned) > limit:
        stem, dot, suffix = cleaned.rpartition(".")
        suffix = f".{suffix}" if dot and 0 < len(suffix) <= 10 else ""
        cleaned = (stem if suffix else cleaned)[: limit - len(suffix)] + suffix
    return cleaned or "submission"
