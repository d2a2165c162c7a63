"""Running one submission in a kernel of its own, within limits.

:class:`SubmissionKernel` starts a fresh IPython kernel (this Python, with the run profile the
grader asks for), executes the notebook's code cells one by one with nbclient, and keeps the
kernel alive afterwards so that the grader can call the student's answers in it
(:mod:`attention_course.grading.remote`).

Each kernel gets a temporary folder of its own: ``work/`` (its working folder, holding its own
copy of the submission), ``home/`` (its ``HOME``, ``ATTENTION_RESULTS_DIR`` and Matplotlib
folder), ``run/`` (the connection file) and, out of the kernel's reach, ``log/`` (what the
kernel process prints outside cells). With a :class:`~attention_course.grading.sandbox.Bubblewrap`
the kernel runs isolated (only ``work``, ``home``, ``run`` and a private ``/tmp`` writable, the
course read-only, nothing else of the machine visible, no network: it talks to the grader over
Unix sockets in ``run/``) and every process it starts dies with it. Without one it runs as the
grader's user, as any program would; its descendants are still killed when it is closed.

Limits:

- each cell gets ``timeout`` seconds; a cell that runs longer is interrupted and the next cell
  runs (a kernel that ignores the interrupt is killed and the remaining cells are skipped);
- the whole notebook gets ``total_timeout`` seconds;
- a cell keeps at most ``max_output_chars`` characters of output;
- errors never stop the run: every cell's error is recorded as a :class:`CellProblem`;
- cells listed in ``skip`` are not run (the grader skips a cell that killed an earlier kernel);
- a message from the kernel larger than ``MAX_MESSAGE_BYTES`` is dropped by ZeroMQ before the
  grader reads it (so a submission cannot make the grader allocate more).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

import nbformat
import zmq
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from attention_course.grading.bounded_text import safe_file_name
from attention_course.grading.sandbox import Bubblewrap

SKIP_TAG = "skip-grading"
"""Cells with this tag are not executed by the grader (e.g. a slow plot nothing depends on)."""

EXPECTED_ERROR_TAG = "raises-exception"
"""A cell meant to fail (the book's convention): its error is not reported as a problem."""
TIMEOUT_ENAME = "CellTimeout"
_PROBE_TIMEOUT_S = 5.0
_NOISE = "Kernel is running over TCP without encryption"  # ipykernel's warning at start
MAX_MESSAGE_BYTES = 32 * 2**20
"""The largest message (frame) accepted from a kernel: a larger one is dropped unread."""


class KernelUnavailable(RuntimeError):
    """The submission's kernel is dead or stuck; nothing more can be asked of it."""


class EvaluationTimeout(TimeoutError):
    """An expression evaluated in the submission's kernel did not finish in time."""


class EvaluationError(RuntimeError):
    """An expression evaluated in the submission's kernel raised (``ename: evalue``)."""


@dataclass
class CellProblem:
    """Something that went wrong in one cell: "error", "timeout", "died" or "skipped".

    ``cell`` is the cell's index in the notebook (0-based, markdown cells counted);
    ``snippet`` is the start of its first line, to find it by eye.
    """

    cell: int
    kind: str
    message: str
    snippet: str = ""

    def __str__(self) -> str:
        where = f"cell {self.cell + 1}" + (f" `{self.snippet}`" if self.snippet else "")
        return f"{where}: {self.kind}: {self.message}"


class _ThisPython(KernelSpecManager):
    """Every kernel name means an IPython kernel of the grader's own Python (as ``argv``)."""

    def __init__(self, argv: list[str], interrupt_mode: str = "signal", **kw):
        super().__init__(**kw)
        self.kernel_argv = argv
        self.interrupt_mode = interrupt_mode

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(argv=self.kernel_argv, display_name="Python 3 (grader)",
                          language="python", interrupt_mode=self.interrupt_mode)


class _CappedClient(NotebookClient):
    """nbclient that keeps at most ``max_chars`` characters of output per cell."""

    def __init__(self, nb, km, max_chars: int, **kw):
        super().__init__(nb, km=km, **kw)
        self.max_chars = max_chars
        self._kept: dict[int, int] = {}

    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(content.get("text", "")) + sum(
            len(str(v)) for v in (content.get("data") or {}).values()
        )
        kept = self._kept.get(cell_index, 0)
        if msg.get("msg_type") == "error" or kept + size <= self.max_chars:
            self._kept[cell_index] = kept + size
            return super().output(outs, msg, display_id, cell_index)
        if kept > self.max_chars:  # already cut
            return None
        self._kept[cell_index] = self.max_chars + 1
        if msg.get("msg_type") == "stream":  # keep what fits
            room = self.max_chars - kept
            msg = {**msg, "content": {**content, "text": content["text"][:room]}}
            super().output(outs, msg, display_id, cell_index)
        note = f"\n[grader: output beyond {self.max_chars:,} characters dropped]\n"
        outs.append(nbformat.v4.new_output("stream", name="stdout", text=note))
        return None


def kernel_environment(profile: str | None) -> dict[str, str]:
    """The grading kernel's environment: ours, with ``ATTENTION_PROFILE`` set to ``profile``."""
    env = dict(os.environ)
    if profile:
        env["ATTENTION_PROFILE"] = profile
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    return env


def _matplotlib_cache() -> Path:
    if os.environ.get("MPLCONFIGDIR"):
        return Path(os.environ["MPLCONFIGDIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "matplotlib"


def _kill_descendants(pid: int | None) -> None:
    """Kill every process below ``pid`` that is still its descendant (best effort)."""
    if pid is None:
        return
    try:
        import psutil

        children = psutil.Process(pid).children(recursive=True)
    except Exception:  # psutil missing, or the kernel already gone
        return
    for child in children:
        try:
            child.kill()
        except Exception:
            pass


class SubmissionKernel:
    """A fresh kernel that runs one notebook, then answers expressions (use as a context).

    ``evaluate(expression)`` returns the ``text/plain`` form of the expression's value, or
    raises :class:`EvaluationError`, :class:`EvaluationTimeout` or :class:`KernelUnavailable`.
    """

    def __init__(
        self,
        notebook: nbformat.NotebookNode,
        *,
        timeout: float = 60.0,
        total_timeout: float = 900.0,
        profile: str | None = "smoke",
        max_output_chars: int = 100_000,
        skip: frozenset[int] = frozenset(),
        sandbox: Bubblewrap | None = None,
        files: Mapping[str, bytes] | None = None,
        hide: Iterable[Path] = (),
    ) -> None:
        self.notebook = notebook
        self.sandbox = sandbox
        """Isolation for the kernel; None runs it as the grader's user."""
        self.files = dict(files or {})
        """Files (name: contents) written into the kernel's working folder first."""
        self.hide = tuple(hide)
        """Paths the sandbox must cover if they fall inside a folder it shows."""
        self.skip = frozenset(skip)
        self.fatal_cell: int | None = None
        """The cell in which the kernel died or got stuck, if it did."""
        self.timeout = float(timeout)
        self.total_timeout = float(total_timeout)
        self.profile = profile
        self.max_output_chars = max_output_chars
        self.problems: list[CellProblem] = []
        self._km: AsyncKernelManager | None = None
        self._client: _CappedClient | None = None
        self._shell: BlockingKernelClient | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._log = None
        self._log_path: Path | None = None
        self._zmq: zmq.Context | None = None
        self._usable = False
        self._last_reply: dict = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> SubmissionKernel:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _folders(self) -> dict[str, Path]:
        self._tmp = tempfile.TemporaryDirectory(
            prefix="attention-grade-", ignore_cleanup_errors=True
        )
        root = Path(self._tmp.name)
        folders = {name: root / name for name in ("work", "home", "run", "log")}
        for folder in folders.values():
            folder.mkdir(mode=0o700)
        for name, data in self.files.items():
            (folders["work"] / safe_file_name(name)).write_bytes(data)
        return folders

    def _environment(self, folders: dict[str, Path]) -> dict[str, str]:
        env = kernel_environment(self.profile)
        env["ATTENTION_RESULTS_DIR"] = str(folders["home"] / "results")
        if self.sandbox is None:
            return env
        env["HOME"] = str(folders["home"])
        env["MPLCONFIGDIR"] = str(folders["home"] / "matplotlib")
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin",
                                       "/usr/bin", "/bin"])
        env["JPY_PARENT_PID"] = "1"  # its parent is the sandbox's PID 1, and must stay so
        fonts = Path(env["MPLCONFIGDIR"])
        fonts.mkdir()
        for cached in _matplotlib_cache().glob("fontlist-*.json"):  # no font scan per kernel
            shutil.copyfile(cached, fonts / cached.name)
        return env

    def _start(self) -> None:
        folders = self._folders()
        env = self._environment(folders)
        self._log_path = folders["log"] / "kernel.log"
        self._log = open(self._log_path, "wb")  # noqa: SIM115 (closed in close())
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        options: dict = {}
        if self.sandbox is not None:
            argv = self.sandbox.command(
                argv, writable=[folders["work"], folders["home"], folders["run"]],
                cwd=folders["work"], env=env, hide=self.hide,
            )
            # Unix sockets in run/: the sandbox has no network; interrupts by message, as
            # a signal to bwrap's process group would not reach a kernel in its own session.
            options = {"transport": "ipc", "ip": str(folders["run"] / "kernel")}
        self._km = AsyncKernelManager(
            kernel_name="python3", **options,
            kernel_spec_manager=_ThisPython(argv, "message" if self.sandbox else "signal"),
        )
        self._km.connection_file = str(folders["run"] / "kernel.json")
        self._km.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        run_sync(self._km.start_kernel)(
            cwd=str(folders["work"]), env=env,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self._client = _CappedClient(
            self.notebook, self._km, self.max_output_chars,
            timeout=math.ceil(self.timeout), interrupt_on_timeout=True,
            error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "", "traceback": []},
            allow_errors=True, skip_cells_with_tag=SKIP_TAG, iopub_timeout=2,
            record_timing=False, on_cell_executed=self._record_reply,
        )
        self._client.reset_execution_trackers()
        self._client.start_new_kernel_client()
        self._zmq = zmq.Context()
        self._zmq.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self._shell = BlockingKernelClient(context=self._zmq)
        self._shell.load_connection_info(self._km.get_connection_info())
        self._shell.start_channels(iopub=False, stdin=False, hb=False, control=False)
        self._usable = True

    def close(self) -> None:
        """Kill the kernel and every process it started, and remove its temporary folder."""
        self._usable = False
        if self._shell is not None:
            self._shell.stop_channels()
            self._shell = None
        if self._zmq is not None:
            self._zmq.destroy(linger=0)
            self._zmq = None
        if self._client is not None and self._client.kc is not None:
            self._client.kc.stop_channels()
        if self._km is not None:
            provisioner = getattr(self._km, "provisioner", None)
            pid = getattr(provisioner, "pid", None)
            if self.sandbox is None:  # a sandbox takes its whole process tree with it
                _kill_descendants(pid)
            try:
                if run_sync(self._km.is_alive)():
                    run_sync(self._km.shutdown_kernel)(now=True)
            finally:
                run_sync(self._km.cleanup_resources)()
            self._km = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def usable(self) -> bool:
        """False once the kernel has died or stopped answering."""
        return self._usable

    def kernel_log(self, limit: int = 300) -> str:
        """The end of what the kernel process wrote outside any cell (e.g. a fatal error);
        empty when there is none (or a submission removed it, where it could)."""
        if self._log is None or self._log_path is None:
            return ""
        try:
            self._log.flush()
            with self._log_path.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 64 * limit))
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line for line in text.splitlines() if line.strip() and _NOISE not in line]
        return "\n".join(lines)[-limit:]

    # -- running the notebook ----------------------------------------------------------------

    def _record_reply(self, cell, cell_index, execute_reply) -> None:
        self._last_reply = (execute_reply or {}).get("content", {})

    def run(self) -> list[CellProblem]:
        """Execute every code cell in order; return the problems (also kept in ``problems``).

        A failing ``check`` call (``ExerciseFailed``) is not a problem of the run: the
        grader's own checks report on the answers. Nor is an error in a cell tagged
        ``raises-exception``.
        """
        deadline = time.monotonic() + self.total_timeout
        client = self._client
        for index, cell in enumerate(self.notebook.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue

            def problem(kind: str, message: str, index=index, cell=cell) -> None:
                first = cell.source.strip().splitlines()[0]
                snippet = first if len(first) <= 40 else first[:37] + "..."
                self.problems.append(CellProblem(index, kind, message, snippet))
            tags = cell.get("metadata", {}).get("tags", [])
            if index in self.skip:
                problem("skipped", "not run: it stopped the kernel in an earlier attempt")
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                problem("timeout", f"not run: the notebook exceeded {self.total_timeout:g} s")
                break
            client.timeout = max(1, math.ceil(min(self.timeout, remaining)))
            self._last_reply = {}
            try:
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            except DeadKernelError:
                self._usable = False
                self.fatal_cell = index
                log = self.kernel_log()
                said = f"; it said: {log}" if log else ""
                problem("died", f"the kernel died in this cell{said}")
                break
            reply = self._last_reply
            if reply.get("status") != "error":
                continue
            if reply.get("ename") == TIMEOUT_ENAME:
                problem("timeout", f"interrupted after {client.timeout} s")
                if not self._responds():
                    problem("died", "the kernel ignored the interrupt and was stopped")
                    self._usable = False
                    self.fatal_cell = index
                    break
            elif reply.get("ename") != "ExerciseFailed" and EXPECTED_ERROR_TAG not in tags:
                problem("error", f"{reply.get('ename')}: {reply.get('evalue')}"[:500])
        return self.problems

    def _responds(self) -> bool:
        try:
            self.evaluate("0", timeout=_PROBE_TIMEOUT_S)
        except (EvaluationTimeout, KernelUnavailable):
            return False
        except EvaluationError:
            return True
        return True

    # -- asking the kernel -------------------------------------------------------------------

    def execute_silently(self, code: str, timeout: float | None = None) -> None:
        """Run ``code`` in the kernel without history or output; raise if it fails."""
        self._request(code, {}, timeout)

    def evaluate(self, expression: str, timeout: float | None = None) -> str:
        """The ``text/plain`` repr of ``expression`` evaluated in the submission's namespace."""
        result = self._request("", {"value": expression}, timeout)["value"]
        if result.get("status") != "ok":
            raise EvaluationError(f"{result.get('ename')}: {result.get('evalue')}")
        return result["data"]["text/plain"]

    def _request(self, code: str, expressions: dict, timeout: float | None) -> dict:
        if not self._usable or self._shell is None:
            raise KernelUnavailable("the submission's kernel is no longer running")
        timeout = self.timeout if timeout is None else timeout
        msg_id = self._shell.execute(
            code, silent=True, store_history=False, user_expressions=expressions
        )
        reply = self._wait(msg_id, timeout)
        if reply is None:
            run_sync(self._km.interrupt_kernel)()
            if self._wait(msg_id, _PROBE_TIMEOUT_S) is None:
                self._usable = False
                raise KernelUnavailable(
                    f"the kernel did not answer within {timeout:g} s and ignored the interrupt"
                )
            raise EvaluationTimeout(f"did not finish within {timeout:g} s (interrupted)")
        content = reply["content"]
        if content.get("status") != "ok":
            raise EvaluationError(f"{content.get('ename')}: {content.get('evalue')}")
        return content.get("user_expressions", {})

    def _wait(self, msg_id: str, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                reply = self._shell.get_shell_msg(timeout=min(remaining, 1.0))
            except Empty:
                if not run_sync(self._km.is_alive)():
                    self._usable = False
                    raise KernelUnavailable("the submission's kernel died") from None
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply
