"""What a running job sees: its payload, a progress reporter that doubles as the heartbeat,
a cancellation flag, the worker's tools, and a per-attempt prefix for its outputs."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlmodel import Session

from training.errors import ConfigurationError
from training.jobs.models import Lease
from training.ports import BlobStore, MediaProcessor, Transcriber, WorkerTools

ToolT = TypeVar("ToolT")
SessionFactory = Callable[[], Session]
Beat = Callable[[Lease, float, str], bool]
"""Records progress as the attempt's heartbeat; False once the lease is gone."""
Hold = Callable[[Session, Lease], bool]
"""Confirms the lease in the session's transaction and keeps it until the commit
(``JobService.hold``); False once the lease is gone."""
log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised by a handler that noticed its lease is gone (``ctx.cancelled``, or
    ``JobContext.hold_lease``): the job was cancelled, or another attempt took it over."""


class JobContext:
    """Handed to a job handler for one attempt.

    A background thread writes the latest progress to the job row every ``heartbeat_seconds``;
    that write is also the proof of life the sweep looks for. If the write finds the lease
    gone (the job was cancelled, or the attempt was given up for dead), ``cancelled`` is set
    and the handler must stop: another attempt may already be running.
    """

    def __init__(
        self,
        lease: Lease,
        session_factory: SessionFactory,
        *,
        heartbeat_seconds: float,
        beat: Beat,
        hold: Hold,
        blobs: BlobStore | None = None,
        tools: WorkerTools | None = None,
    ) -> None:
        self.lease = lease
        self.job_id = lease.job_id
        self.attempt = lease.attempt
        self._blobs = blobs
        self.tools = tools or WorkerTools()
        self._beat = beat
        self._hold = hold
        self.cancelled = threading.Event()
        self._session_factory = session_factory
        self._heartbeat_seconds = heartbeat_seconds
        self._progress = 0.0
        self._message = ""
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A database session of the job's own, committed by the handler."""
        with self._session_factory() as session:
            yield session

    @contextmanager
    def workdir(self) -> Iterator[Path]:
        """A scratch directory for this attempt (under the worker's ``workdir`` where set),
        removed afterwards whatever happens."""
        parent = self.tools.workdir
        if parent is not None:
            parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"job-{self.job_id}-", dir=parent))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @property
    def blobs(self) -> BlobStore:
        return self._need(self._blobs, "an object store")

    @property
    def media(self) -> MediaProcessor:
        return self._need(self.tools.media, "FFmpeg (media)")

    @property
    def transcriber(self) -> Transcriber:
        return self._need(self.tools.transcriber, "speech-to-text")

    def _need(self, tool: ToolT | None, what: str) -> ToolT:
        if tool is None:
            raise ConfigurationError(
                "--queues", f"this worker has no {what} for job {self.job_id} ({self.lease.kind})"
            )
        return tool

    @property
    def attempt_tag(self) -> str:
        """Names this attempt's outputs (``2-1a2b3c4d``: attempt and lease), unique even when
        a killed attempt's twin runs: the handler switches them in on success, so a half-done
        attempt never shows."""
        return f"{self.attempt}-{self.lease.token[:8]}"

    def stop_if_cancelled(self) -> None:
        """Raise ``JobCancelled`` if the heartbeat found the lease gone (between two steps of
        a long job, e.g. two uploads)."""
        if self.cancelled.is_set():
            raise JobCancelled(f"job {self.job_id}: attempt {self.attempt} lost its lease")

    def hold_lease(self, session: Session) -> None:
        """Before an attempt makes its work visible: confirm in ``session``'s transaction that
        it still holds the job (and keep it until the commit), or raise ``JobCancelled``."""
        if not self._hold(session, self.lease):
            self.cancelled.set()
            self.stop_if_cancelled()

    def progress(self, fraction: float, message: str | None = None) -> None:
        with self._lock:
            self._progress = min(max(fraction, 0.0), 1.0)
            if message is not None:
                self._message = message

    def beat(self) -> bool:
        """Write progress and heartbeat now; False (and ``cancelled`` set) if the lease is gone."""
        with self._lock:
            progress, message = self._progress, self._message
        alive = self._beat(self.lease, progress, message)
        if not alive:
            self.cancelled.set()
        return alive

    def start_heartbeat(self) -> None:
        self._thread = threading.Thread(
            target=self._beat_until_stopped, name=f"job-{self.job_id}-heartbeat", daemon=True
        )
        self._thread.start()

    def stop_heartbeat(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=self._heartbeat_seconds + 5)

    def _beat_until_stopped(self) -> None:
        while not self._stopped.wait(self._heartbeat_seconds):
            try:
                if not self.beat():
                    return
            except Exception:
                log.warning("job %s: heartbeat failed; trying again", self.job_id, exc_info=True)
