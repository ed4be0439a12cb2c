"""What a running job sees: its payload, a progress reporter that doubles as the heartbeat,
a cancellation flag, and a per-attempt prefix for its outputs."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlmodel import Session

from training.pipeline.services import JobService, Lease
from training.ports import BlobStore

SessionFactory = Callable[[], Session]
log = logging.getLogger(__name__)


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
        blobs: BlobStore | None = None,
        resources: dict[str, Any] | None = None,
    ) -> None:
        self.lease = lease
        self.job_id = lease.job_id
        self.attempt = lease.attempt
        self.blobs = blobs
        self.resources = resources or {}
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
        """A scratch directory for this attempt (under ``resources["workdir"]`` where set),
        removed afterwards whatever happens."""
        parent = self.resources.get("workdir")
        if parent is not None:
            Path(parent).mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"job-{self.job_id}-", dir=parent))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def resource(self, name: str) -> Any:
        """A tool the worker provides (``media``, ``transcriber``…); KeyError names it."""
        try:
            return self.resources[name]
        except KeyError:
            raise KeyError(f"this worker provides no {name!r} for job {self.job_id}") from None

    def attempt_prefix(self, base: str) -> str:
        """Where this attempt writes its outputs (``base/attempts/2-1a2b3c4d/``); the handler
        switches them in on success, so a half-done attempt never shows."""
        return f"{base.rstrip('/')}/attempts/{self.attempt}-{self.lease.token[:8]}/"

    def progress(self, fraction: float, message: str | None = None) -> None:
        with self._lock:
            self._progress = min(max(fraction, 0.0), 1.0)
            if message is not None:
                self._message = message

    def beat(self) -> bool:
        """Write progress and heartbeat now; False (and ``cancelled`` set) if the lease is gone."""
        with self._lock:
            progress, message = self._progress, self._message
        with self._session_factory() as session:
            alive = JobService(session).heartbeat(self.lease, progress, message)
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
