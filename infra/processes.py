"""Child processes that die with their parent: the embedded S3 server, the worker beside the
portal. Each runs in its own process group (so it and its children stop together) and, on
Linux, gets SIGKILL when the process that started it dies, even by SIGKILL."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn``: ask the kernel to SIGKILL this child when its parent dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def stop_group(process: subprocess.Popen[bytes], *, timeout: float = 15.0) -> None:
    """SIGTERM the child's process group, then SIGKILL it if it has not gone in ``timeout``."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class SupervisedProcess:
    """A child process that is restarted when it dies, until ``stop``.

    ``ready`` is called after each start and must return once the child serves (or raise);
    the child's output goes to ``log_path``.
    """

    def __init__(
        self,
        name: str,
        command: list[str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        ready: Callable[[], None] | None = None,
        stop_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.command = command
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self.ready = ready
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._spawn()
        if self.ready is not None:
            try:
                self.ready()
            except BaseException:
                self.stop()
                raise
        self._watcher = threading.Thread(target=self._watch, name=f"{self.name}-watch", daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                self.command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=die_with_parent, cwd=self.cwd, env=self.env,  # noqa: PLW1509 - prctl only: async-signal-safe
            )  # fmt: skip

    def _watch(self) -> None:
        backoff = 1.0
        while not self._stopping.wait(0.5):
            process = self.process
            if process is None or process.poll() is None:
                continue
            log.warning(
                "%s exited with %s; restarting in %.0fs", self.name, process.returncode, backoff
            )
            if self._stopping.wait(backoff):
                return
            try:
                self._spawn()
                if self.ready is not None:
                    self.ready()
                self.restarts += 1
                backoff = 1.0
            except Exception:
                log.exception("%s failed to restart", self.name)
                backoff = min(backoff * 2, 30.0)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exited_early(self) -> bool:
        """True while starting if the child has already exited (so ``ready`` can stop waiting)."""
        return self.process is not None and self.process.poll() is not None

    def stop(self) -> None:
        self._stopping.set()
        if self.process is not None:
            stop_group(self.process, timeout=self.stop_timeout)
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=5)

    def log_tail(self, lines: int = 15) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
