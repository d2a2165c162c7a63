"""Replies from a submission's kernel, decoded in the grader with the grader's own limits.

The kernel's half of the channel (:mod:`attention_course.grading.remote_kernel`, where the
format is described) runs in the student's process, so a reply is whatever the submission
makes it. It is decoded here as data only:

- the reply text may be at most ``MAX_REPLY_BYTES`` (base64-encoded) and its JSON header at most
  ``MAX_HEADER_BYTES``;
- arrays and NumPy scalars are a dtype, a shape and bytes: the dtype must be a plain one
  (booleans, numbers, fixed-size strings, datetimes), and shape times item size must equal the
  bytes that follow, which are consumed in order (no two values share bytes), so an array can
  never be larger than the reply;
- no class is looked up by a name the reply chooses and no constructor is called with arguments
  it chooses: values are built from ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``,
  ``complex``, lists, tuples, dicts, sets and ``np.frombuffer``, so a subclass of a NumPy or
  builtin scalar arrives as its base type;
- anything else is a reference to an object that stays in the kernel.

Whatever goes wrong while decoding, ``MemoryError`` included, is raised as :class:`ReplyError`
(an :class:`~attention_course.grading.core.AnswerError`): the failure of the answer whose reply
it was, never of the grader.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from attention_course.grading.core import AnswerError
from attention_course.grading.remote_kernel import (
    ARRAY_KINDS,
    MAGIC,
    MAX_DEPTH,
    MAX_HEADER_BYTES,
    MAX_MESSAGE_CHARS,
    MAX_MRO,
    MAX_NAME_CHARS,
    MAX_REPLY_BYTES,
    MAX_WARNINGS,
)

MAX_REPLY_CHARS = 4 * math.ceil(MAX_REPLY_BYTES / 3) + 2
"""The longest reply text accepted: the base64 of ``MAX_REPLY_BYTES`` bytes, quoted."""
MAX_DIMENSIONS = 32
_DTYPE = re.compile(r"[<>|=]?[" + ARRAY_KINDS + r"]\d{1,6}(\[[A-Za-z]{1,3}\])?")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class ReplyError(AnswerError):
    """A reply that could not be decoded within the limits (the answer's failure)."""


@dataclass(frozen=True)
class RemoteError:
    """An exception raised in the kernel: its class and bases by name, nearest first."""

    classes: tuple[tuple[str, str], ...]
    message: str
    not_implemented: bool

    @property
    def name(self) -> str:
        return self.classes[0][1] if self.classes else "Exception"


@dataclass(frozen=True)
class RemoteWarning:
    """A warning emitted in the kernel during a call, to be re-issued in the grader."""

    category: tuple[tuple[str, str], ...]
    message: str
    filename: str
    lineno: int


@dataclass
class Reply:
    """A decoded reply: ``value`` when ``error`` is None, and the warnings of the call."""

    value: object = None
    error: RemoteError | None = None
    warnings: list[RemoteWarning] = field(default_factory=list)


def _text(value, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value[:limit]


def _class_names(value) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise ValueError("expected a list of class names")
    return tuple((_text(m, MAX_NAME_CHARS), _text(q, MAX_NAME_CHARS)) for m, q in value[:MAX_MRO])


def _dtype(text) -> np.dtype:
    if not isinstance(text, str) or not _DTYPE.fullmatch(text):
        raise ValueError(f"not a plain dtype: {str(text)[:40]!r}")
    dtype = np.dtype(text)
    if dtype.kind not in ARRAY_KINDS or dtype.names or dtype.subdtype or not dtype.itemsize:
        raise ValueError(f"not a plain dtype: {text!r}")
    return dtype


def _shape(value) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_DIMENSIONS:
        raise ValueError("malformed shape")
    if not all(type(s) is int and s >= 0 for s in value):
        raise ValueError("malformed shape")
    return tuple(value)


class _Decoder:
    def __init__(self, data: memoryview, make_ref: Callable[[int, str, str], object]) -> None:
        self.data = data
        self.offset = 0
        self.make_ref = make_ref

    def _take(self, count) -> memoryview:
        if type(count) is not int or count < 0 or self.offset + count > len(self.data):
            raise ValueError("a value claims more bytes than the reply holds")
        start, self.offset = self.offset, self.offset + count
        return self.data[start:self.offset]

    def _array(self, node: dict):
        dtype, shape = _dtype(node.get("dtype")), _shape(node.get("shape", []))
        count = math.prod(shape)
        if count * dtype.itemsize != node.get("n"):
            raise ValueError(f"an array of shape {shape} and dtype {dtype} does not hold "
                             f"{node.get('n')!r} bytes")
        array = np.frombuffer(self._take(node["n"]), dtype=dtype, count=count).reshape(shape)
        return array.copy()  # writeable, and independent of the reply's bytes

    def _items(self, node: dict, depth: int) -> list:
        items = node.get("v")
        if not isinstance(items, list):
            raise ValueError(f"malformed {node.get('t')!r}")
        return [self.decode(v, depth + 1) for v in items]

    def decode(self, node, depth: int = 0):
        if depth > MAX_DEPTH + 2:
            raise ValueError("nested too deeply")
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [self.decode(v, depth + 1) for v in node]
        if type(node) is not dict:
            raise ValueError("malformed value")
        tag = node.get("t")
        if tag == "array":
            return self._array(node)
        if tag == "scalar":
            if node.get("shape") != []:
                raise ValueError("a scalar has shape []")
            return self._array(node)[()]  # the base NumPy type, whatever class the answer had
        if tag == "objects":
            shape, items = _shape(node.get("shape")), self._items(node, depth)
            if len(items) != math.prod(shape):
                raise ValueError("an object array's items do not fill its shape")
            array = np.empty(len(items), dtype=object)
            for index, item in enumerate(items):  # one by one: a list item stays a list
                array[index] = item
            return array.reshape(shape)
        if tag == "tuple":
            return tuple(self._items(node, depth))
        if tag == "set":
            return set(self._items(node, depth))
        if tag == "frozenset":
            return frozenset(self._items(node, depth))
        if tag == "dict":
            pairs = self._items(node, depth)
            if not all(type(p) is list and len(p) == 2 for p in pairs):
                raise ValueError("malformed dict")
            return {key: value for key, value in pairs}
        if tag == "complex":
            parts = node.get("v")
            if not (type(parts) is list and len(parts) == 2
                    and all(type(p) in (int, float) for p in parts)):
                raise ValueError("malformed complex")
            return complex(parts[0], parts[1])
        if tag in ("bytes", "bytearray"):
            data = self._take(node.get("n"))
            return bytes(data) if tag == "bytes" else bytearray(data)
        if tag == "dtype":
            return _dtype(node.get("v"))
        if tag == "ref":
            ref = node.get("id")
            if type(ref) is not int or ref < 0:
                raise ValueError("malformed reference")
            return self.make_ref(ref, _text(node.get("module"), MAX_NAME_CHARS),
                                 _text(node.get("qualname"), MAX_NAME_CHARS))
        raise ValueError(f"unknown value tag {str(tag)[:40]!r}")


def _payload(text: str) -> bytes:
    if not isinstance(text, str) or len(text) > MAX_REPLY_CHARS:
        size = len(text) if isinstance(text, str) else "?"
        raise ValueError(f"the reply is too large ({size:,} characters, at most "
                         f"{MAX_REPLY_CHARS:,})")
    if len(text) < 2 or text[0] != text[-1] or text[0] not in "'\"":
        raise ValueError("the reply is not a quoted string")
    inner = text[1:-1]
    if not _BASE64.fullmatch(inner):
        raise ValueError("the reply is not base64")
    try:
        return base64.b64decode(inner, validate=True)
    except binascii.Error as err:
        raise ValueError(f"the reply is not base64: {err}") from None


def _warnings(value) -> list[RemoteWarning]:
    if not isinstance(value, list):
        raise ValueError("malformed warnings")
    found = []
    for w in value[:MAX_WARNINGS]:
        lineno = w.get("lineno") if isinstance(w, dict) else None
        found.append(RemoteWarning(
            _class_names(w.get("category")), _text(w.get("message"), MAX_MESSAGE_CHARS),
            _text(w.get("filename"), MAX_NAME_CHARS),
            lineno if type(lineno) is int and 0 <= lineno < 2**31 else 0,
        ))
    return found


def decode_reply(text: str, make_ref: Callable[[int, str, str], object]) -> Reply:
    """Decode the kernel's reply (the ``repr`` of its base64 string) within the limits.

    ``make_ref(id, module, qualname)`` builds the grader's handle for an object that stayed in
    the kernel. Raises :class:`ReplyError` saying what was wrong.
    """
    try:
        payload = _payload(text)
        text = None  # let the reply text go while the rest is decoded
        if payload[:4] != MAGIC or len(payload) < 8:
            raise ValueError("the reply does not start as replies do")
        (length,) = struct.unpack(">I", payload[4:8])
        if length > MAX_HEADER_BYTES or 8 + length > len(payload):
            raise ValueError(f"the reply's structure is too large ({length:,} bytes, at most "
                             f"{MAX_HEADER_BYTES:,})")
        header = json.loads(payload[8:8 + length].decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("malformed reply")
        reply = Reply(warnings=_warnings(header.get("warnings", [])))
        if header.get("status") == "ok":
            decoder = _Decoder(memoryview(payload)[8 + length:], make_ref)
            reply.value = decoder.decode(header.get("value"))
            if decoder.offset != len(decoder.data):
                raise ValueError("the reply holds bytes that no value uses")
        elif header.get("status") == "raise":
            reply.error = RemoteError(_class_names(header.get("mro")),
                                      _text(header.get("message"), MAX_MESSAGE_CHARS),
                                      header.get("not_implemented") is True)
        else:
            raise ValueError("malformed reply")
        return reply
    except (Exception, RecursionError) as err:  # MemoryError and RecursionError included
        message = str(err)[:MAX_MESSAGE_CHARS] if not isinstance(err, MemoryError) else ""
        raise ReplyError(
            f"unreadable reply from the submission's kernel: {type(err).__name__}"
            + (f": {message}" if message else "")
        ) from None
