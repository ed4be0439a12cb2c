"""Run and supervise ffmpeg. The only module of the package that starts processes.

ffmpeg runs in its own process group (``start_new_session``) so that cancelling or timing out
kills it and anything it started; on Linux it also gets ``PR_SET_PDEATHSIG`` = SIGKILL, so it
dies with the worker that started it even when that worker is SIGKILLed (a Celery hard time
limit does exactly that). Note the kernel sends the signal when the *thread* that started the
child exits: ``run_ffmpeg`` waits for the child in the calling thread, so that is the same.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from transcoder.errors import TranscodeCancelledError, TranscodeError, TranscodeTimeoutError

__all__ = ["Progress", "parse_progress", "run_ffmpeg"]

_PR_SET_PDEATHSIG = 1
_STDERR_TAIL_LINES = 40
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Progress:
    """A progress report. ``percent`` and ``eta_seconds`` are None when the duration is unknown."""

    out_time: float  # seconds of output written
    speed: float | None  # x realtime
    percent: float | None
    eta_seconds: float | None
    done: bool = False


ProgressCallback = Callable[[Progress], None]


def parse_progress(lines: Iterable[str], duration: float | None) -> Iterable[Progress]:
    """Turn ffmpeg's ``-progress`` key=value blocks into ``Progress`` (one per block)."""
    block: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if not sep:
            continue
        block[key] = value
        if key == "progress":
            yield _progress_from(block, duration)
            block = {}


def _progress_from(block: dict[str, str], duration: float | None) -> Progress:
    out_time = 0.0
    with contextlib.suppress(ValueError):
        out_time = max(0.0, int(block.get("out_time_us", "0")) / 1_000_000)
    speed: float | None = None
    with contextlib.suppress(ValueError):
        speed = float(block.get("speed", "").rstrip("x"))
    done = block.get("progress") == "end"
    percent = eta = None
    if duration:
        percent = 100.0 if done else min(100.0, 100.0 * out_time / duration)
        if speed:
            eta = 0.0 if done else max(0.0, (duration - out_time) / speed)
    return Progress(out_time, speed, percent, eta, done)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_ffmpeg(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    duration: float | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    time_limit: float | None = None,
) -> None:
    """Run ``cmd`` (which should carry ``-progress pipe:1``) to completion.

    ``on_progress`` is called in the calling thread. Setting ``cancel`` or passing
    ``time_limit`` seconds kills ffmpeg's process group and raises ``TranscodeCancelledError`` /
    ``TranscodeTimeoutError``; a non-zero exit raises ``TranscodeError`` with the stderr tail.
    """
    reports: queue.Queue[Progress] = queue.Queue()
    tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
    process = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - needed for PR_SET_PDEATHSIG; we never use threads in it
    )
    stdout, stderr = process.stdout, process.stderr
    if stdout is None or stderr is None:  # pragma: no cover - both are PIPE above
        raise RuntimeError("ffmpeg's pipes were not opened")
    readers = [
        _reader(stdout, lambda lines: _feed_progress(lines, duration, reports)),
        _reader(stderr, lambda lines: tail.extend(line.rstrip()[:500] for line in lines)),
    ]
    deadline = time.monotonic() + time_limit if time_limit is not None else None
    try:
        _supervise(
            process, reports, on_progress=on_progress, cancel=cancel, deadline=deadline, tail=tail
        )
    finally:
        _kill_group(process)
        for reader in readers:
            reader.join(timeout=5)
    _deliver(reports, on_progress)
    if process.returncode != 0:
        raise TranscodeError(cmd, process.returncode, "\n".join(tail))


def _supervise(
    process: subprocess.Popen[bytes],
    reports: queue.Queue[Progress],
    *,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
    deadline: float | None,
    tail: deque[str],
) -> None:
    cmd = process.args if isinstance(process.args, list) else [str(process.args)]
    while process.poll() is None:
        _deliver(reports, on_progress)
        if cancel is not None and cancel.wait(_POLL_SECONDS):
            _kill_group(process)
            raise TranscodeCancelledError(cmd, None, "\n".join(tail), "transcode cancelled")
        if cancel is None:
            time.sleep(_POLL_SECONDS)
        if deadline is not None and time.monotonic() > deadline:
            _kill_group(process)
            raise TranscodeTimeoutError(
                cmd, None, "\n".join(tail), "transcode ran past its time limit"
            )


def _deliver(reports: queue.Queue[Progress], on_progress: ProgressCallback | None) -> None:
    while True:
        try:
            report = reports.get_nowait()
        except queue.Empty:
            return
        if on_progress is not None:
            on_progress(report)


def _feed_progress(
    lines: Iterable[str], duration: float | None, out: queue.Queue[Progress]
) -> None:
    for report in parse_progress(lines, duration):
        out.put(report)


def _reader(pipe: IO[bytes], consume: Callable[[Iterable[str]], None]) -> threading.Thread:
    def run() -> None:
        with pipe:
            consume(raw.decode("utf-8", "replace") for raw in pipe)

    thread = threading.Thread(target=run, name="ffmpeg-pipe", daemon=True)
    thread.start()
    return thread


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole process group (a no-op once it has exited and been reaped)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def spawn_ffmpeg(
    cmd: Sequence[str], *, cwd: Path | None = None, log: Path
) -> subprocess.Popen[bytes]:
    """Start a long-running ffmpeg (live ingest) in its own process group, dying with its
    parent, stderr appended to ``log``; the caller supervises it and stops it with
    ``stop_ffmpeg``."""
    with log.open("ab") as stderr:
        return subprocess.Popen(
            list(cmd),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - PR_SET_PDEATHSIG, as in run_ffmpeg
        )


def stop_ffmpeg(process: subprocess.Popen[bytes], *, grace: float = 10.0) -> int:
    """Ask ffmpeg to finish (SIGINT: it closes its outputs, the HLS muxer writes its last
    segment and playlist), then SIGKILL the group after ``grace`` seconds; the exit status."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _kill_group(process)
    return process.wait()
