"""Isolating a submission's kernel with bubblewrap (``bwrap``, Linux; Debian package
``bubblewrap``).

:class:`Bubblewrap` turns a kernel's command line into one that runs it in namespaces of its
own (``--unshare-all``: user, PID, mount, IPC, network, UTS, cgroup), in a new session, with no
capabilities, killed with its whole process tree when the grader lets go of it
(``--die-with-parent``; PID 1 of its namespace is bubblewrap's, so every process the submission
started dies with it). What the kernel sees of the file system:

- read-only: the system (``/usr`` and the ``/bin``, ``/lib`` links, a few files of ``/etc``),
  this Python and its environment, the folders on the kernel's ``sys.path`` (the course's
  package among them) and the course's data;
- writable: only the folders the grader gives it (its working folder with its own copy of the
  submission, its home, the kernel's connection folder) and a private ``/tmp``;
- nothing else: not the grader's folder, the hidden checks, the gradebook or the other
  submissions, not the grader's processes (``/proc`` is the sandbox's own), not the network
  (the kernel talks to the grader over Unix sockets in its connection folder).

:func:`bubblewrap` finds ``bwrap`` and checks once that it really starts a sandbox here (user
namespaces may be disabled, e.g. in some containers); when it does not, it raises
:class:`IsolationUnavailable` saying why, and the grader falls back, loudly, to running
submissions as the user (see ``book/grading.md``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "alternatives", "fonts", "group", "host.conf", "hosts", "ld.so.cache", "ld.so.conf",
    "ld.so.conf.d", "localtime", "mime.types", "nsswitch.conf", "os-release", "passwd",
    "protocols", "services", "ssl", "timezone",
)
"""What the kernel sees of ``/etc``: the files libraries read, no secrets."""
DEVICE_PATTERNS = ("/dev/nvidia*", "/dev/dri")
"""GPUs, passed through when present."""
ENVIRONMENT = re.compile(
    r"(PATH|LANG|TZ|MPLBACKEND|JPY_PARENT_PID|LC_\w+|PYTHON\w*|ATTENTION_\w+|TF_\w+|KERAS_\w+|XLA_\w+|"
    r"JAX_\w+|CUDA_\w+|NVIDIA_\w+|OMP_\w+|MKL_\w+|OPENBLAS_\w+)"
)
"""The environment variables a sandboxed kernel keeps (the rest, secrets included, go)."""
PROBE_TIMEOUT_S = 60


class IsolationUnavailable(RuntimeError):
    """bubblewrap is missing or cannot start a sandbox here; the message says why."""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def kernel_sys_path(env: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The folders on ``sys.path`` of a kernel of this Python started with ``env``."""
    code = "import json, sys; print(json.dumps(sys.path))"
    with tempfile.TemporaryDirectory() as empty:
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=empty, env=dict(env or os.environ),
            capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=True,
        ).stdout
        return tuple(Path(p) for p in json.loads(out) if p and Path(p).is_dir()
                     and not _inside(Path(p).resolve(), Path(empty).resolve()))


def course_folders() -> tuple[Path, ...]:
    """The course's package folders and its data folder (shown read-only)."""
    from attention_course.data import data_dir

    spec = importlib.util.find_spec("attention_course")
    folders = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    data = data_dir()
    return tuple(folders + ([data] if data.is_dir() else []))


@dataclass(frozen=True)
class Bubblewrap:
    """How to run a command in a sandbox: ``bwrap`` and the folders shown read-only."""

    executable: str
    read_only: tuple[Path, ...]

    @classmethod
    def for_this_python(cls, executable: str, env: Mapping[str, str] | None = None):
        """A sandbox showing this Python, the kernel's ``sys.path`` and the course's data."""
        folders = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
                   Path(sys.executable).resolve().parent]
        folders += [*kernel_sys_path(env), *course_folders()]
        shown: list[Path] = []
        for folder in folders:
            for path in (folder.absolute(), folder.resolve()):
                if path not in shown:
                    shown.append(path)
        return cls(executable, tuple(shown))

    def command(
        self,
        argv: Sequence[str],
        *,
        writable: Sequence[Path] = (),
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        hide: Iterable[Path] = (),
    ) -> list[str]:
        """``argv`` wrapped in ``bwrap``: the ``writable`` folders (created by the caller) are
        bound read-write at their own paths, ``cwd`` is the working folder, ``env`` the
        environment (only the variables :data:`ENVIRONMENT` allows), and paths in ``hide``
        that fall inside a folder shown read-only are covered (an empty folder or file)."""
        args = [self.executable, "--unshare-all", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL", "--clearenv"]
        for name, value in sorted((env or {}).items()):
            if ENVIRONMENT.fullmatch(name):
                args += ["--setenv", name, value]
        args += ["--ro-bind", "/usr", "/usr"]
        for link in SYSTEM_LINKS:
            if os.path.islink(link):
                args += ["--symlink", os.readlink(link), link]
            elif os.path.isdir(link):
                args += ["--ro-bind", link, link]
        for name in ETC_FILES:
            args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        args += ["--proc", "/proc", "--dev", "/dev", "--ro-bind-try", "/sys", "/sys"]
        for pattern in DEVICE_PATTERNS:
            for device in sorted(Path("/").glob(pattern.lstrip("/"))):
                args += ["--dev-bind", str(device), str(device)]
        args += ["--tmpfs", "/tmp"]
        shown = (Path("/usr"), *self.read_only)
        for folder in self.read_only:  # a folder inside another one is shown with it
            if not any(f != folder and _inside(folder, f) for f in shown):
                args += ["--ro-bind", str(folder), str(folder)]
        for path in {Path(p).absolute() for p in hide}:
            if not any(_inside(path, folder) for folder in shown):
                continue
            if path.is_dir():
                args += ["--tmpfs", str(path)]
            elif path.exists():
                args += ["--ro-bind", "/dev/null", str(path)]
        for folder in writable:
            args += ["--bind", str(folder), str(folder)]
        if cwd is not None:
            args += ["--chdir", str(cwd)]
        return [*args, "--", *argv]

    def probe(self) -> None:
        """Start this Python in a sandbox once; raise :class:`IsolationUnavailable` if it fails."""
        with tempfile.TemporaryDirectory(prefix="attention-probe-") as folder:
            argv = self.command([sys.executable, "-c", "import numpy"], writable=[Path(folder)],
                                cwd=Path(folder), env=os.environ)
            try:
                run = subprocess.run(argv, capture_output=True, text=True,
                                     timeout=PROBE_TIMEOUT_S, check=False)
            except (OSError, subprocess.TimeoutExpired) as err:
                raise IsolationUnavailable(f"bwrap could not be run: {err}") from None
        if run.returncode != 0:
            said = (run.stderr.strip() or run.stdout.strip())[-500:]
            raise IsolationUnavailable(
                f"bwrap is installed but cannot start a sandbox here (exit status "
                f"{run.returncode}: {said or 'no message'}); user namespaces may be disabled "
                "(sysctl kernel.unprivileged_userns_clone, or a container's seccomp profile)"
            )


@lru_cache(maxsize=1)
def bubblewrap() -> Bubblewrap:
    """The sandbox for this Python's kernels, checked to work (once per process).

    Raises :class:`IsolationUnavailable` saying why not: not Linux, ``bwrap`` not installed
    (Debian: ``apt-get install bubblewrap``), or it cannot create namespaces here.
    """
    if not sys.platform.startswith("linux"):
        raise IsolationUnavailable(f"bubblewrap runs on Linux only (this is {sys.platform})")
    executable = shutil.which("bwrap")
    if executable is None:
        raise IsolationUnavailable(
            "bubblewrap (bwrap) is not installed; on Debian or Ubuntu: apt-get install bubblewrap"
        )
    sandbox = Bubblewrap.for_this_python(executable)
    sandbox.probe()
    return sandbox
