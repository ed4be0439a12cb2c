"""Running one delivery of a job: claim, run the handler with a heartbeat, record the end."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from training.errors import PERMANENT_ERRORS, TransientError, ValidationError
from training.jobs.context import JobCancelled, JobContext, SessionFactory
from training.jobs.models import Lease
from training.jobs.registry import FailureCause, JobRegistry
from training.jobs.services import JobService, TransientRetry
from training.ports import BlobStore, JobDispatcher, WorkerTools

log = logging.getLogger(__name__)

__all__ = ["JobCancelled", "JobRunner", "failure_cause"]


@dataclass
class JobRunner:
    session_factory: SessionFactory
    registry: JobRegistry
    dispatcher: JobDispatcher
    worker_name: str
    heartbeat_seconds: float = 5.0
    retry_backoff: float = 10.0
    transient_retry: TransientRetry = field(default_factory=TransientRetry)
    blobs: BlobStore | None = None
    tools: WorkerTools = field(default_factory=WorkerTools)
    on_claimed: Callable[[JobContext], None] | None = None

    def run(self, job_id: int) -> str:
        """Run one delivery of job ``job_id``; returns what happened, for the worker's log.

        A delivery that finds nothing to claim (a duplicate, a job already running elsewhere,
        or finished) returns at once: the job runs once in effect however often the broker
        delivers it.
        """
        with self.session_factory() as session:
            lease = JobService(session).claim(job_id, self.worker_name)
        if lease is None:
            return "nothing to claim"
        ctx = JobContext(
            lease,
            self.session_factory,
            heartbeat_seconds=self.heartbeat_seconds,
            beat=self._heartbeat,
            hold=lambda session, lease: JobService(session, self.registry).hold(lease),
            blobs=self.blobs,
            tools=self.tools,
        )
        ctx.start_heartbeat()
        try:
            if self.on_claimed is not None:
                self.on_claimed(ctx)
            self.registry.get(lease.kind).handler(ctx, lease.payload)
        except BaseException as exc:  # noqa: BLE001 - the job's end is recorded whatever it was
            ctx.stop_heartbeat()
            return self._record_failure(lease, exc)
        ctx.stop_heartbeat()
        with self.session_factory() as session:
            done = JobService(session).complete(lease, "done")
        return "succeeded" if done else "finished, but the lease was lost"

    def _heartbeat(self, lease: Lease, progress: float, message: str) -> bool:
        with self.session_factory() as session:
            return JobService(session, self.registry).heartbeat(lease, progress, message)

    def _record_failure(self, lease: Lease, exc: BaseException) -> str:
        if isinstance(exc, JobCancelled):
            return "cancelled"
        error = "".join(traceback.format_exception_only(exc)).strip()
        log.warning("job %s attempt %s failed: %s", lease.job_id, lease.attempt, error)
        with self.session_factory() as session:
            retry = JobService(session, self.registry).fail(
                lease,
                error[:4000],
                retry_backoff=self.retry_backoff,
                cause=failure_cause(exc),
                transient=self.transient_retry if isinstance(exc, TransientError) else None,
            )
        if retry is not None:
            self.dispatcher.dispatch([retry])
        if not isinstance(exc, Exception):
            raise exc  # SystemExit, KeyboardInterrupt: recorded, then let through
        return f"failed, retry in {retry.countdown:.0f}s" if retry else "failed for good"


def failure_cause(exc: BaseException) -> FailureCause | None:
    """The cause of a failure no retry can cure, or None for one worth retrying: input that
    can never succeed (a text file renamed .mp4) is the uploader's to fix; bad settings or
    credentials the operator's."""
    if isinstance(exc, ValidationError):
        return FailureCause.INPUT
    if isinstance(exc, PERMANENT_ERRORS):
        return FailureCause.SETTINGS
    return None
