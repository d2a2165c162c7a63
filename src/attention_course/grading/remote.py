"""The grader's side of the answer channel: a student's answers, used from the grader's process.

After a submission has run in its kernel, :class:`AnswerChannel` sends the source of
:mod:`attention_course.grading.remote_kernel` into that kernel and then asks it for each
exercise's answer. Plain results (NumPy arrays and scalars, numbers, strings, containers) come
back as values; anything else (a function, a class, a Keras layer) comes back as a
:class:`RemoteObject` that forwards calls, attribute reads, indexing, ``len``, iteration and
``np.asarray`` to the kernel.

So the checks run here, in the grader's process, with the grader's own registry, NumPy and
check functions, while the student's code only ever runs in the student's kernel: a submission
that redefines ``check``, patches the registry or NumPy, or prints fake results changes nothing
here. Replies are decoded with an unpickler that accepts NumPy arrays, dtypes, scalars and
builtin containers only, so a reply cannot run code in the grader either.
"""

from __future__ import annotations

import ast
import base64
import io
import pickle
import secrets
import sys
import time
from pathlib import Path

from attention_course.grading.core import AnswerError
from attention_course.grading.execution import (
    EvaluationError,
    EvaluationTimeout,
    KernelUnavailable,
    SubmissionKernel,
)

_REPLY_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("builtins", "complex"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("builtins", "range"),
    ("builtins", "bytearray"),
}


class RemoteObject:
    """An object living in the submission's kernel, used through the answer channel.

    ``isinstance`` sees the remote object's class when the grader has imported that class's
    module (a Keras layer passes ``isinstance(x, keras.layers.Layer)``); ``type()`` does not.
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
        import numpy as np

        array = self._ask("array")
        return np.asarray(array, dtype=dtype) if dtype is not None else array

    def __repr__(self) -> str:
        return f"<{self._module}.{self._qualname} in the submission's kernel>"

    @property
    def __class__(self):
        module = sys.modules.get(self._module)
        found = module
        for part in self._qualname.split("."):
            found = getattr(found, part, None)
        return found if module is not None and isinstance(found, type) else RemoteObject


class _ReplyUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, channel: AnswerChannel):
        super().__init__(io.BytesIO(data))
        self.channel = channel

    def find_class(self, module: str, name: str):
        if (module, name) not in _REPLY_GLOBALS:
            raise pickle.UnpicklingError(f"a reply may not refer to {module}.{name}")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        tag, ref, module, qualname = pid
        if tag != "ref" or not isinstance(ref, int):
            raise pickle.UnpicklingError(f"malformed reference {pid!r}")
        return RemoteObject(self.channel, ref, str(module), str(qualname))


class _RequestPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if type(obj) is RemoteObject:
            return ("ref", object.__getattribute__(obj, "_ref"))
        return None


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

    def request(self, op: str, target, argument=None):
        """Perform ``op`` on ``target`` in the kernel; return its value or raise.

        The student's ``NotImplementedError`` is raised as ``NotImplementedError`` (the check
        then scores "not attempted"); any other exception, a timeout or a dead kernel as
        :class:`AnswerError`.
        """
        if self._timed_out:
            raise AnswerError(f"not tried: an earlier call {self._timed_out}")
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise AnswerError("not tried: the time for checking this submission is used up")
        if self._server is None:
            self._server = self._install()
        buffer = io.BytesIO()
        _RequestPickler(buffer, protocol=4).dump((op, target, argument))
        payload = base64.b64encode(buffer.getvalue()).decode("ascii")
        try:
            text = self.kernel.evaluate(
                f"{self._server}({payload!r})", min(self.call_timeout, remaining)
            )
        except EvaluationTimeout as err:
            self._timed_out = str(err)
            raise AnswerError(f"TimeoutError: the answer {err}") from None
        except (EvaluationError, KernelUnavailable) as err:
            raise AnswerError(str(err)) from None
        try:
            encoded = ast.literal_eval(text)
            reply = _ReplyUnpickler(base64.b64decode(encoded), self).load()
        except Exception as err:  # a kernel whose channel the submission broke
            raise AnswerError(f"unreadable reply from the submission's kernel: {err}") from None
        if not isinstance(reply, tuple) or reply[:1] not in (("ok",), ("raise",)):
            raise AnswerError("malformed reply from the submission's kernel")
        if reply[0] == "ok":
            return reply[1]
        _, name, message, not_implemented = reply
        if not_implemented:
            raise NotImplementedError(message)
        raise AnswerError(f"{name}: {message}" if message else name)

    def answer(self, expression: str):
        """The value of an answer expression (e.g. ``pad_and_mask``) in the submission."""
        return self.request("eval", expression)
