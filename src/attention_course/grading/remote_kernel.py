"""The half of the grader's answer channel that runs inside a submission's kernel.

The grader sends this file's *source* into the kernel after the submission has run and
executes it in a namespace of its own (it imports nothing from the course, so a submission that
broke the package cannot break the channel). :func:`serve` answers the grader's requests --
evaluate an answer expression, call an object, read an attribute -- and replies with plain data
or, for any other object, a reference that the grader can use in a further request.

Each request carries the grader's warning filters and NumPy error state at the moment of the
call (a check may have turned warnings into errors); the call runs under them, and the warnings
it emits are recorded and sent back for the grader to re-issue, so that a check behaves as it
does in the book, where the answer runs in the check's own process.

The reply is data, never a pickle: ``MAGIC``, the length of a JSON header (4 bytes, big-endian),
the header, then the raw bytes of every array, scalar and bytes value, in the order the header
lists them. In the header, ``None``, booleans, ints, floats, strings and lists are themselves;
every other value is an object tagged ``"t"``:

- ``{"t": "array", "dtype": "<f8", "shape": [2, 3], "n": 48}``: a NumPy array of a plain dtype
  (``n`` bytes from the buffer area); ``"scalar"`` the same for a NumPy scalar; ``"objects"`` an
  array of Python objects (``"shape"`` and the flat ``"v"`` list of its elements);
- ``"tuple"``, ``"set"``, ``"frozenset"`` (``"v"``: the items), ``"dict"`` (``"v"``: key-value
  pairs), ``"complex"`` (``"v"``: real and imaginary parts), ``"bytes"`` and ``"bytearray"``
  (``"n"`` bytes), ``"dtype"`` (``"v"``: its ``str``);
- ``"ref"``: an object kept here (``"id"``), with its class's ``"module"`` and ``"qualname"``.

Subclasses of builtin and NumPy scalars, tuples (namedtuples), lists, dicts and sets travel as
their base type; tensors and other objects with ``__array__`` as NumPy arrays. The grader
decodes the reply with its own limits (:mod:`attention_course.grading.replies`): nothing in it
can make the grader run code or allocate more than the reply's size allows. Nothing here
decides a score: the checks run in the grader's process, on the data replied.
"""

import base64
import builtins
import io
import json
import pickle
import struct
import warnings

import numpy as np

MAGIC = b"ACR1"
MAX_REPLY_BYTES = 16 * 2**20
"""The whole reply, header and buffers, before base64."""
MAX_HEADER_BYTES = 2 * 2**20
"""The JSON header: the structure, numbers and strings of a reply."""
MAX_DEPTH = 100
MAX_MESSAGE_CHARS = 2000
MAX_NAME_CHARS = 200
MAX_WARNINGS = 20
MAX_MRO = 12
ARRAY_KINDS = "biufcSUmM"
"""Array dtypes sent as raw bytes: booleans, numbers, fixed-size strings, datetimes."""
WARNING_ACTIONS = ("error", "ignore", "always", "default", "module", "once")

namespace: dict = {}
"""The submission's globals; the grader sets it after sending this source."""

_objects: dict[int, object] = {}


def _is_array_like(value) -> bool:
    """Tensors and variables (anything with ``__array__``) travel as NumPy arrays."""
    try:
        return hasattr(value, "__array__") and not isinstance(value, type)
    except Exception:  # a hostile __getattr__
        return False


def _name(value) -> str:
    try:
        return str(value)[:MAX_NAME_CHARS]
    except Exception:
        return "?"


def _class_names(kind, limit: int = MAX_MRO) -> list:
    """``[module, qualname]`` of ``kind`` and its bases, nearest first."""
    try:
        mro = type.__dict__["__mro__"].__get__(kind)
    except Exception:
        mro = (kind,)
    return [[_name(getattr(c, "__module__", "?")), _name(getattr(c, "__qualname__", "?"))]
            for c in mro[:limit]]


class _Encoder:
    """Turns a value into the header's JSON structure and the list of raw buffers."""

    def __init__(self) -> None:
        self.buffers: list[bytes] = []
        self.size = 0

    def _buffer(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > MAX_REPLY_BYTES:
            raise ValueError(f"the result is too large to grade (over {MAX_REPLY_BYTES:,} bytes)")
        self.buffers.append(data)
        return len(data)

    def _reference(self, value) -> dict:
        ref = len(_objects)
        _objects[ref] = value
        (module, qualname), *_ = _class_names(type(value), limit=1)
        return {"t": "ref", "id": ref, "module": module, "qualname": qualname}

    def _array(self, value, tag: str, depth: int) -> dict:
        array = np.asarray(value)  # subclasses (masked, matrix) as plain arrays
        if array.dtype.kind == "O":
            items = [self.encode(v, depth + 1) for v in array.flat]
            return {"t": "objects", "shape": list(array.shape), "v": items}
        dtype = array.dtype
        if dtype.kind not in ARRAY_KINDS or dtype.names or dtype.subdtype or not dtype.itemsize:
            raise TypeError(f"an array of dtype {dtype} cannot be sent to the grader")
        return {"t": tag, "dtype": dtype.str, "shape": list(array.shape),
                "n": self._buffer(array.tobytes())}

    def encode(self, value, depth: int = 0):
        if depth > MAX_DEPTH:
            raise ValueError("the value is nested too deeply to send to the grader")
        kind = type(value)
        if value is None or kind in (bool, int, float, str):
            return value
        if isinstance(value, np.generic):
            return self._array(value, "scalar", depth)
        if isinstance(value, np.ndarray):
            return self._array(value, "array", depth)
        if isinstance(value, np.dtype):
            if value.kind in ARRAY_KINDS and not value.names and not value.subdtype:
                return {"t": "dtype", "v": value.str}
            return self._reference(value)
        # Subclasses of builtins travel as their base type, read through the base's methods.
        if isinstance(value, int):
            return int.__int__(value)
        if isinstance(value, float):
            return float.__float__(value)
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, complex):
            return {"t": "complex",
                    "v": [complex.real.__get__(value), complex.imag.__get__(value)]}
        if isinstance(value, (bytes, bytearray)):
            tag = "bytearray" if isinstance(value, bytearray) else "bytes"
            return {"t": tag, "n": self._buffer(bytes(memoryview(value)))}
        if isinstance(value, tuple):  # namedtuples included
            return {"t": "tuple", "v": [self.encode(v, depth + 1) for v in tuple.__iter__(value)]}
        if isinstance(value, list):
            return [self.encode(v, depth + 1) for v in list.__iter__(value)]
        if isinstance(value, (set, frozenset)):
            tag, base = ("set", set) if isinstance(value, set) else ("frozenset", frozenset)
            return {"t": tag, "v": [self.encode(v, depth + 1) for v in base.__iter__(value)]}
        if isinstance(value, dict):
            pairs = [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                     for k, v in dict.items(value)]
            return {"t": "dict", "v": pairs}
        if _is_array_like(value):
            return self._array(value, "array", depth)
        return self._reference(value)


def _pack(header: dict, buffers: list) -> bytes:
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    if len(text) > MAX_HEADER_BYTES:
        raise ValueError(f"the result is too large to grade (its structure takes {len(text):,} "
                        f"bytes, over {MAX_HEADER_BYTES:,})")
    return b"".join([MAGIC, struct.pack(">I", len(text)), text, *buffers])


class _Unpickler(pickle.Unpickler):
    """Requests come from the grader (trusted); references name objects kept here."""

    def persistent_load(self, pid):
        return _objects[pid[1]]


def _describe(err: BaseException) -> str:
    try:
        return str(err)[:MAX_MESSAGE_CHARS]
    except Exception:
        return "(the exception's message could not be read)"


def _resolve_class(module: str, qualname: str):
    """A warning category by name, from builtins or an imported module (no import here)."""
    import sys

    found = builtins if module == "builtins" else sys.modules.get(module)
    for part in qualname.split("."):
        found = vars(found).get(part) if hasattr(found, "__dict__") else None
    return found if isinstance(found, type) and issubclass(found, Warning) else None


def _apply_filters(filters) -> None:
    """Install the grader's warning filters (inside ``catch_warnings``, so only for a call)."""
    warnings.resetwarnings()
    for action, message, (module, qualname), module_pattern, lineno in filters:
        category = _resolve_class(module, qualname)
        if category is not None and action in WARNING_ACTIONS:
            warnings.filterwarnings(action, message, category, module_pattern, lineno,
                                    append=True)


def _describe_warning(record) -> dict:
    try:
        lineno = int(record.lineno)
    except Exception:
        lineno = 0
    return {"category": _class_names(record.category), "message": _describe(record.message),
            "filename": _name(record.filename)[-MAX_NAME_CHARS:], "lineno": lineno}


def _perform(op: str, target, argument):
    if op == "eval":
        return eval(target, namespace)  # the instructor's answer expression, e.g. "pad_and_mask"
    obj = _objects[target]
    if op == "call":
        args, kwargs = argument
        return obj(*args, **kwargs)
    if op == "getattr":
        return getattr(obj, argument)
    if op == "getitem":
        return obj[argument]
    if op == "len":
        return len(obj)
    if op == "list":
        return list(obj)
    if op == "array":
        return np.asarray(obj)
    if op == "bool":
        return bool(obj)
    if op == "repr":
        return repr(obj)[:MAX_MESSAGE_CHARS]
    raise ValueError(f"unknown request {op!r}")


def serve(payload: str) -> str:
    """Answer one request: base64 of a pickle of ``(op, target, argument, context)``.

    ``context`` holds the grader's ``filters`` (``warnings.filters`` with categories and
    patterns by name) and ``errstate`` (``np.geterr()``). Returns the reply, base64-encoded.
    """
    caught: list = []
    encoder = _Encoder()
    try:
        op, target, argument, context = _Unpickler(io.BytesIO(base64.b64decode(payload))).load()
        with warnings.catch_warnings(record=True) as caught:
            _apply_filters(context["filters"])
            with np.errstate(**context["errstate"]):
                value = encoder.encode(_perform(op, target, argument))
        header = {"status": "ok", "value": value}
    except BaseException as err:  # the student's code may raise anything, SystemExit included
        encoder = _Encoder()
        header = {"status": "raise", "mro": _class_names(type(err)), "message": _describe(err),
                  "not_implemented": isinstance(err, NotImplementedError)}
    header["warnings"] = [_describe_warning(w) for w in caught[:MAX_WARNINGS]]
    try:
        data = _pack(header, encoder.buffers)
    except Exception as err:
        header = {"status": "raise", "mro": _class_names(ValueError), "not_implemented": False,
                  "message": f"cannot send the result: {_describe(err)}", "warnings": []}
        data = _pack(header, [])
    return base64.b64encode(data).decode("ascii")
