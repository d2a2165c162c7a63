"""The half of the grader's answer channel that runs inside a submission's kernel.

The grader sends this file's *source* into the kernel after the submission has run and
executes it in a namespace of its own (it imports nothing from the course, so a submission that
broke the package cannot break the channel). :func:`serve` answers the grader's requests --
evaluate an answer expression, call an object, read an attribute -- and replies with plain data
(NumPy arrays and scalars, numbers, strings, lists, tuples, dicts, sets) or, for any other
object, a reference that the grader can use in a further request.

Nothing here decides a score: the checks run in the grader's process, on the data replied.
"""

import base64
import io
import pickle

import numpy as np

MAX_REPLY_BYTES = 64 * 2**20
MAX_MESSAGE_CHARS = 2000
_DATA_TYPES = (type(None), bool, int, float, complex, str, bytes)
_CONTAINERS = (list, tuple, set, frozenset, dict)

namespace: dict = {}
"""The submission's globals; the grader sets it after sending this source."""

_objects: dict[int, object] = {}


def _is_array_like(value) -> bool:
    """Tensors and variables (anything with ``__array__``) travel as NumPy arrays."""
    try:
        return hasattr(value, "__array__") and not isinstance(value, type)
    except Exception:  # a hostile __getattr__
        return False


def _plain(value, depth: int = 0):
    """``value`` with tensors as arrays and tuple subclasses as tuples (others unchanged)."""
    if depth > 100:
        raise ValueError("the value is nested too deeply to send to the grader")
    kind = type(value)
    if kind in _DATA_TYPES or isinstance(value, (np.generic, np.dtype)):
        return value
    if isinstance(value, np.ndarray):
        return np.asarray(value)
    if kind in (list, set, frozenset):
        return kind(_plain(v, depth + 1) for v in value)
    if isinstance(value, tuple):  # namedtuples included
        return tuple(_plain(v, depth + 1) for v in value)
    if kind is dict:
        return {_plain(k, depth + 1): _plain(v, depth + 1) for k, v in value.items()}
    if _is_array_like(value):
        return np.asarray(value)
    return value  # sent as a reference


def _keep(value) -> tuple:
    ref = len(_objects)
    _objects[ref] = value
    kind = type(value)
    return ("ref", ref, str(kind.__module__), str(kind.__qualname__))


# Classes and functions that pickles of arrays, dtypes and scalars refer to: sent by name.
_GLOBALS_SENT_AS_IS = {
    id(g)
    for g in (
        np.ndarray, np.dtype, complex, set, frozenset, slice, range, bytearray,
        np.zeros(1).__reduce__()[0],  # numpy's _reconstruct
        np.float64(0).__reduce__()[0],  # numpy's scalar
    )
}


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        kind = type(obj)
        if kind in _DATA_TYPES or kind in _CONTAINERS or id(obj) in _GLOBALS_SENT_AS_IS:
            return None
        if kind is np.ndarray or isinstance(obj, (np.generic, np.dtype)):
            return None
        return _keep(obj)


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid):
        return _objects[pid[1]]


def _dump(reply) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=4).dump(reply)
    return buffer.getvalue()


def _describe(err: BaseException) -> str:
    try:
        return str(err)[:MAX_MESSAGE_CHARS]
    except Exception:
        return "(the exception's message could not be read)"


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
    """Answer one request (base64 pickle of ``(op, target, argument)``), in the same format."""
    try:
        op, target, argument = _Unpickler(io.BytesIO(base64.b64decode(payload))).load()
        reply = ("ok", _plain(_perform(op, target, argument)))
    except BaseException as err:  # the student's code may raise anything, SystemExit included
        reply = ("raise", type(err).__name__, _describe(err), isinstance(err, NotImplementedError))
    try:
        data = _dump(reply)
    except Exception as err:
        data = _dump(("raise", "ValueError", f"cannot send the result: {_describe(err)}", False))
    if len(data) > MAX_REPLY_BYTES:
        message = f"the result is too large to grade ({len(data):,} bytes)"
        data = _dump(("raise", "ValueError", message, False))
    return base64.b64encode(data).decode("ascii")
