from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from transcoder import (
    Progress,
    TranscodeCancelledError,
    TranscodeError,
    TranscodeTimeoutError,
    ffmpeg_executable,
    run_ffmpeg,
)
from transcoder.runner import parse_progress

PROGRESS_BLOCKS = """\
frame=30
out_time_us=1000000
speed=2.5x
progress=continue
frame=60
out_time_us=4000000
speed=2x
progress=end
"""


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_until_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_progress_blocks_become_percent_speed_and_eta() -> None:
    reports = list(parse_progress(PROGRESS_BLOCKS.splitlines(), duration=4.0))
    assert reports == [
        Progress(out_time=1.0, speed=2.5, percent=25.0, eta_seconds=1.2, done=False),
        Progress(out_time=4.0, speed=2.0, percent=100.0, eta_seconds=0.0, done=True),
    ]


def test_progress_without_duration_has_no_percent_and_tolerates_na() -> None:
    lines = ["out_time_us=N/A", "speed=N/A", "progress=continue"]
    assert list(parse_progress(lines, duration=None)) == [Progress(0.0, None, None, None)]


@pytest.mark.slow
def test_run_ffmpeg_reports_progress_in_the_calling_thread(tmp_path: Path) -> None:
    reports: list[Progress] = []
    threads: set[str] = set()

    def record(report: Progress) -> None:
        reports.append(report)
        threads.add(threading.current_thread().name)

    command = [
        ffmpeg_executable(), "-nostdin", "-progress", "pipe:1", "-f", "lavfi",
        "-i", "testsrc2=s=320x180:r=25:d=3", "-c:v", "libx264", "-preset", "ultrafast",
        str(tmp_path / "out.mp4"),
    ]  # fmt: skip
    run_ffmpeg(command, duration=3.0, on_progress=record)
    assert reports[-1].done
    assert reports[-1].percent == 100.0
    assert threads == {threading.current_thread().name}


def test_failure_raises_transcode_error_with_command_and_stderr_tail(tmp_path: Path) -> None:
    command = [ffmpeg_executable(), "-nostdin", "-i", str(tmp_path / "missing.mp4"), "out.mp4"]
    with pytest.raises(TranscodeError) as raised:
        run_ffmpeg(command, cwd=tmp_path)
    error = raised.value
    assert error.cmd == command
    assert error.returncode not in (0, None)
    assert "missing.mp4" in error.stderr_tail
    assert "\n" not in str(error)


def test_stderr_tail_is_bounded() -> None:
    noisy = python("""
        import sys
        for i in range(20000):
            print(f"line {i} " + "x" * 2000, file=sys.stderr)
        sys.exit(3)
    """)
    with pytest.raises(TranscodeError) as raised:
        run_ffmpeg(noisy)
    tail = raised.value.stderr_tail.splitlines()
    assert raised.value.returncode == 3
    assert len(tail) <= 40
    assert max(len(line) for line in tail) <= 500
    assert tail[-1].startswith("line 19999 ")


def _sleeper_with_grandchild(pid_file: Path) -> list[str]:
    return python(f"""
        import pathlib, subprocess, time
        child = subprocess.Popen(["sleep", "60"])
        pathlib.Path({str(pid_file)!r}).write_text(str(child.pid))
        time.sleep(60)
    """)


def _wait_for_pid(pid_file: Path) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if pid_file.exists() and pid_file.read_text():
            return int(pid_file.read_text())
        time.sleep(0.05)
    raise AssertionError("the child never started")


def test_cancel_kills_the_whole_process_group(tmp_path: Path) -> None:
    cancel = threading.Event()
    pid_file = tmp_path / "grandchild.pid"
    threading.Thread(target=lambda: (_wait_for_pid(pid_file), cancel.set()), daemon=True).start()
    started = time.monotonic()
    with pytest.raises(TranscodeCancelledError):
        run_ffmpeg(_sleeper_with_grandchild(pid_file), cancel=cancel)
    assert time.monotonic() - started < 10
    assert wait_until_gone(int(pid_file.read_text()))


def test_time_limit_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    with pytest.raises(TranscodeTimeoutError) as raised:
        run_ffmpeg(_sleeper_with_grandchild(pid_file), time_limit=1.5)
    assert "time limit" in str(raised.value)
    assert wait_until_gone(_wait_for_pid(pid_file))


def test_ffmpeg_dies_when_the_worker_that_started_it_is_sigkilled(tmp_path: Path) -> None:
    """A Celery hard time limit SIGKILLs the pool process: its ffmpeg must not live on."""
    worker_code = f"""
        import sys
        from transcoder import ffmpeg_executable, run_ffmpeg
        print("started", flush=True)
        run_ffmpeg([ffmpeg_executable(), "-nostdin", "-nostats", "-v", "quiet", "-re", "-f", "lavfi",
                    "-i", "testsrc2=s=160x90:r=10", "-f", "null", "-"], cwd={str(tmp_path)!r})
    """
    with subprocess.Popen(python(worker_code), stdout=subprocess.PIPE, text=True) as worker:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "started"
        children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
        deadline = time.monotonic() + 10
        while not children.read_text().split() and time.monotonic() < deadline:
            time.sleep(0.05)
        ffmpeg_pid = int(children.read_text().split()[0])
        assert alive(ffmpeg_pid)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        assert wait_until_gone(ffmpeg_pid), "ffmpeg outlived its SIGKILLed parent"
