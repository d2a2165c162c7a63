"""The grader's side of the answer channel: a student's answers, used from the grader's process.

After a submission has run in its kernel, :class:`AnswerChannel` sends the source of
:mod:`attention_course.grading.remote_kernel` into that kernel and then asks it for each
exercise's answer. Plain results (NumPy arrays and scalars, numbers, strings, containers) come
back as values; anything else (a function, a class, a Keras layer, a generator) comes back as a
:class:`RemoteObject` that forwards calls, attribute reads, indexing, ``len``, iteration and
``np.asarray`` to the kernel.

So the checks run here, in the grader's process, with the grader's own registry, NumPy and
check functions, while the student's code only ever runs in the student's kernel: a submission
that redefines ``check``, patches the registry or NumPy, or prints fake results changes nothing
here. Replies are data, decoded with limits (:mod:`attention_course.grading.replies`), so a reply
can neither run code in the grader nor make it allocate more than the reply's size.

Each request carries the grader's warning filters and NumPy error state, the call runs under
them in the kernel, and the warnings it emitted are re-issued here; an exception of a builtin
class (or a subclass of one) is raised here as an ``AnswerError`` that is also of that builtin
class. A check therefore gives the same verdict here as in the book, where the answer runs in
the check's own process: one that turns ``RuntimeWarning`` into an error fails an answer that
divides 0 by 0 in both places.
"""

from __future__ import annotations

import base64
import builtins
import io
import pickle
import secrets
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from attention_course.grading.core import AnswerError
from attention_course.grading.execution import (
    EvaluationError,
    EvaluationTimeout,
    KernelUnavailable,
    SubmissionKernel,
)
from attention_course.grading.replies import RemoteError, RemoteWarning, decode_reply

MAX_REMOTE_CLASSES = 256
"""Distinct classes of remote objects one channel names (then plain ``RemoteObject``)."""


def lookup_class(module: str, qualname: str) -> type | None:
    """The class ``module.qualname`` if the grader has already imported it, else None.

    Reads module and class dictionaries only: no import, no module ``__getattr__``.
    """
    found = sys.modules.get(module)
    for part in qualname.split(".")[:8]:
        namespace = getattr(found, "__dict__", None)
        found = namespace.get(part) if isinstance(namespace, dict) else None
    return found if isinstance(found, type) else None


class RemoteObject:
    """An object living in the submission's kernel, used through the answer channel.

    Each remote class gets a subclass of its own name, so ``type(x).__name__`` reads
    ``generator`` or ``Dense`` in a check's message. ``isinstance`` sees the remote object's
    class when the grader has imported that class's module (a Keras layer passes
    ``isinstance(x, keras.layers.Layer)``).
    """

    __slots__ = ("_channel", "_ref", "_module", "_qualname")

    def __init__(self, channel: AnswerChannel, ref: int, module: str, qualname: str):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_qualname", qualname)

    def _ask(self, op: str, argument=None):
        return self._channel.request(op, self._ref, argument)

    def __call__(self, *args, **kwargs):
        return self._ask("call", (args, kwargs))

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._ask("getattr", name)

    def __getitem__(self, key):
        return self._ask("getitem", key)

    def __len__(self) -> int:
        return int(self._ask("len"))

    def __iter__(self):
        return iter(self._ask("list"))

    def __bool__(self) -> bool:
        return bool(self._ask("bool"))

    def __array__(self, dtype=None, copy=None):
        array = self._ask("array")
        return np.asarray(array, dtype=dtype) if dtype is not None else array

    def __repr__(self) -> str:
        return f"<{self._module}.{self._qualname} in the submission's kernel>"

    @property
    def __class__(self):
        found = lookup_class(self._module, self._qualname)
        return found if found is not None else type(self)


def _is_remote(obj) -> bool:
    return RemoteObject in type(obj).__mro__


class _RequestPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if _is_remote(obj):
            return ("ref", object.__getattribute__(obj, "_ref"))
        return None


_ERROR_CLASSES: dict[type, type] = {}


def _error_class(base: type) -> type:
    """A subclass of both :class:`AnswerError` and the builtin exception class ``base``."""
    cls = _ERROR_CLASSES.get(base)
    if cls is None:
        try:
            cls = type(f"Remote{base.__name__}", (AnswerError, base),
                       {"__str__": BaseException.__str__, "__module__": __name__})
        except TypeError:  # an incompatible layout (a few OSError relatives)
            cls = AnswerError
        _ERROR_CLASSES[base] = cls
    return cls


def remote_exception(error: RemoteError) -> AnswerError:
    """The exception to raise here for one raised in the kernel.

    Of the nearest builtin class among the remote exception's classes (``ValueError`` for a
    student's ``class BadShape(ValueError)``), so that a check catching it behaves as in the
    book; always an :class:`AnswerError`, whose message is ``Name: message``.
    """
    text = f"{error.name}: {error.message}" if error.message else error.name
    base = next(
        (found for module, name in error.classes
         if module == "builtins" and isinstance(found := vars(builtins).get(name), type)
         and issubclass(found, Exception)),
        None,
    )
    if base is not None:
        try:
            return _error_class(base)(text)
        except Exception:  # a builtin whose constructor wants more arguments
            pass
    return AnswerError(text)


def _warning_category(names) -> type[Warning]:
    for module, qualname in names:
        found = lookup_class(module, qualname)
        if found is not None and issubclass(found, Warning):
            return found
    return UserWarning


def reissue_warnings(records: list[RemoteWarning]) -> None:
    """Issue here the warnings a call emitted in the kernel, under this process's filters
    (a filter that makes them errors raises the first one)."""
    for record in records:
        warnings.warn_explicit(record.message, _warning_category(record.category),
                               record.filename or "<submission>", record.lineno)


def call_context() -> dict:
    """The warning filters and NumPy error state in force here, sent with every request."""
    filters = [
        (action, getattr(message, "pattern", "") or "",
         (category.__module__, category.__qualname__),
         getattr(module, "pattern", "") or "", lineno)
        for action, message, category, module, lineno in warnings.filters
    ]
    return {"filters": filters, "errstate": np.geterr()}


class AnswerChannel:
    """Requests to the submission's kernel; the first use installs the kernel's half.

    Each request may take ``call_timeout`` seconds, all of them together ``total_timeout``.
    After a request times out, the channel refuses further requests until :meth:`reset`
    (the grader resets it for each exercise), so an answer that loops forever costs one
    timeout per exercise, not one per call a check makes.
    """

    def __init__(self, kernel: SubmissionKernel, call_timeout: float, total_timeout: float):
        self.kernel = kernel
        self.call_timeout = call_timeout
        self.deadline = time.monotonic() + total_timeout
        self._server: str | None = None
        self._timed_out: str | None = None
        self._classes: dict[tuple[str, str], type] = {}

    def reset(self) -> None:
        """Accept requests again after a timeout (the next exercise's answer)."""
        self._timed_out = None

    def _install(self) -> str:
        name = f"_grader_channel_{secrets.token_hex(8)}"
        source = Path(__file__).with_name("remote_kernel.py").read_text(encoding="utf-8")
        # Builtins through a fresh import: a submission may have its own `compile` or `exec`.
        code = (
            f"import builtins as {name}_builtins\n"
            f"{name} = {{'__name__': {name!r}}}\n"
            f"{name}_builtins.exec({name}_builtins.compile({source!r}, 'remote_kernel.py', "
            f"'exec'), {name})\n"
            f"{name}['namespace'] = {name}_builtins.globals()\n"
        )
        try:
            self.kernel.execute_silently(code, timeout=self.call_timeout)
        except (EvaluationError, EvaluationTimeout, KernelUnavailable) as err:
            raise AnswerError(f"could not reach the submission's kernel: {err}") from err
        return f"{name}['serve']"

    def _reference(self, ref: int, module: str, qualname: str) -> RemoteObject:
        cls = self._classes.get((module, qualname))
        if cls is None:
            cls = RemoteObject
            if len(self._classes) < MAX_REMOTE_CLASSES:
                try:
                    cls = type(qualname.rpartition(".")[2] or "object", (RemoteObject,),
                               {"__slots__": (), "__module__": module, "__qualname__": qualname})
                except (TypeError, ValueError):  # a name Python refuses
                    pass
                self._classes[(module, qualname)] = cls
        return cls(self, ref, module, qualname)

    def request(self, op: str, target, argument=None):
        """Perform ``op`` on ``target`` in the kernel; return its value or raise.

        The kernel's exception is raised as :func:`remote_exception` makes it (the student's
        ``NotImplementedError`` is then a ``NotImplementedError``, and a check scores "not
        attempted"); a timeout, a dead kernel or a reply that cannot be decoded within the
        limits as :class:`AnswerError`. Warnings the call emitted are re-issued first.
        """
        if self._timed_out:
            raise AnswerError(f"not tried: an earlier call {self._timed_out}")
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise AnswerError("not tried: the time for checking this submission is used up")
        if self._server is None:
            self._server = self._install()
        buffer = io.BytesIO()
        _RequestPickler(buffer, protocol=4).dump((op, target, argument, call_context()))
        payload = base64.b64encode(buffer.getvalue()).decode("ascii")
        try:
            text = self.kernel.evaluate(
                f"{self._server}({payload!r})", min(self.call_timeout, remaining)
            )
        except EvaluationTimeout as err:
            self._timed_out = str(err)
            raise AnswerError(f"TimeoutError: the answer {err}") from None
        except (EvaluationError, KernelUnavailable) as err:
            raise AnswerError(str(err)[:2000]) from None
        reply = decode_reply(text, self._reference)
        del text
        reissue_warnings(reply.warnings)
        if reply.error is not None:
            raise remote_exception(reply.error)
        return reply.value

    def answer(self, expression: str):
        """The value of an answer expression (e.g. ``pad_and_mask``) in the submission."""
        return self.request("eval", expression)
