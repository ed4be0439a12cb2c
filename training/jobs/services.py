"""The job ledger: every state change is a conditional UPDATE, so two workers, two sweeps or a
worker and a sweep can race and the database decides who wins."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.engine import CursorResult
from sqlmodel import Session, col, select

from training.base import utcnow
from training.errors import JobNotFound, ValidationError
from training.jobs.models import FINISHED, Job, JobStatus, Lease, WorkerPresence
from training.jobs.registry import (
    FailureCause,
    JobFailure,
    JobKind,
    JobRegistry,
    own_time_limit,
    registry,
)
from training.ports import Dispatch

log = logging.getLogger(__name__)

DISPATCH_KEY = "clinicast.jobs_to_dispatch"
"""``session.info`` key: Dispatches of the jobs enqueued in this transaction, to be sent after
the commit (a worker must never receive a job it cannot yet see)."""


def take_pending_dispatches(session: Session) -> list[Dispatch]:
    """The jobs the just-committed transaction enqueued (each handed out once)."""
    return list(session.info.pop(DISPATCH_KEY, []))


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


@dataclass(frozen=True)
class TransientRetry:
    """How long transient failures are retried, and the longest wait between two tries."""

    window: float = 1800.0
    max_backoff: float = 120.0


class JobService:
    def __init__(self, session: Session, job_registry: JobRegistry = registry) -> None:
        self.session = session
        self.registry = job_registry

    # --- enqueueing (inside the caller's transaction) -------------------------------------

    def enqueue(
        self,
        kind: JobKind,
        payload: dict[str, Any],
        *,
        dedupe_key: str | None = None,
        delay: float = 0.0,
    ) -> Job:
        """Record a job in the current transaction; it is announced after the commit.

        With a ``dedupe_key`` the same step is never queued twice: an unfinished or succeeded
        job with that key is returned as it is, a failed or cancelled one is queued again.
        """
        if dedupe_key is not None:
            existing = self.session.exec(select(Job).where(Job.dedupe_key == dedupe_key)).first()
            if existing is not None:
                if existing.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                    self._requeue(existing)
                return existing
        job = Job(
            kind=kind.name,
            queue=kind.queue,
            payload=payload,
            dedupe_key=dedupe_key,
            max_attempts=kind.max_attempts,
            not_before=utcnow() + timedelta(seconds=delay),
        )
        self.session.add(job)
        self.session.flush()
        self._announce_after_commit(job, delay)
        return job

    def _announce_after_commit(self, job: Job, countdown: float = 0.0) -> None:
        assert job.id is not None
        pending = self.session.info.setdefault(DISPATCH_KEY, [])
        pending.append(
            Dispatch(job.id, job.kind, job.queue, countdown, own_time_limit(job.payload))
        )

    def _requeue(self, job: Job) -> None:
        job.status, job.attempts, job.error = JobStatus.QUEUED, 0, None
        job.progress, job.message, job.finished_at = 0.0, "", None
        job.not_before = job.updated_at = utcnow()
        job.dispatched_at = job.transient_since = None  # a restart gets a fresh retry window
        self.session.add(job)
        self.session.flush()
        self._announce_after_commit(job)

    def get(self, job_id: int) -> Job:
        job = self.session.get(Job, job_id)
        if job is None:
            raise JobNotFound(f"no job with id {job_id}")
        return job

    def restart(self, job_id: int) -> Job:
        """Queue a failed or cancelled job again from its first attempt (an admin's action)."""
        job = self.get(job_id)
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise ValidationError(
                f"job {job_id} is {job.status.value}; only failed or cancelled jobs restart"
            )
        self._requeue(job)
        return job

    def cancel(self, job_id: int) -> Job:
        """Stop a job: a running attempt notices at its next heartbeat."""
        job = self.get(job_id)
        if job.status not in FINISHED:
            job.status, job.finished_at, job.lease_token = JobStatus.CANCELLED, utcnow(), None
            self.session.add(job)
            self.session.flush()
        return job

    def recent(self, limit: int = 50) -> list[Job]:
        return list(self.session.exec(select(Job).order_by(col(Job.id).desc()).limit(limit)))

    def counts_by_status(self) -> dict[str, int]:
        rows = self.session.exec(select(Job.status, func.count()).group_by(Job.status))
        return {str(status): int(count) for status, count in rows}

    # --- a worker's side (each call commits at once) --------------------------------------

    def claim(self, job_id: int, worker: str, *, now: datetime | None = None) -> Lease | None:
        """Take the job for one attempt, or None if it is not there to take (a duplicate
        delivery, a job already running elsewhere, finished, or not due yet)."""
        now = now or utcnow()
        token = secrets.token_hex(16)
        self.session.exec(
            update(Job).where(col(Job.id) == job_id).values(deliveries=Job.deliveries + 1)
        )
        claimed = self.session.exec(
            update(Job)
            .where(
                col(Job.id) == job_id,
                col(Job.status) == JobStatus.QUEUED,
                col(Job.not_before) <= now,
            )
            .values(
                status=JobStatus.RUNNING,
                attempts=Job.attempts + 1,
                lease_token=token,
                leased_by=worker,
                heartbeat_at=now,
                updated_at=now,
            )
        )
        self.session.commit()
        if _rowcount(claimed) != 1:
            return None
        job = self.get(job_id)
        return Lease(job_id, token, job.attempts, job.kind, dict(job.payload))

    def heartbeat(self, lease: Lease, progress: float, message: str) -> bool:
        """Prove the attempt is alive and record its progress. False: the lease is gone (the
        job was cancelled, or swept after this worker stalled) and the attempt must stop."""
        now = utcnow()
        result = self.session.exec(
            update(Job)
            .where(*self._held(lease))
            .values(heartbeat_at=now, updated_at=now, progress=progress, message=message[:500])
        )
        self.session.commit()
        return _rowcount(result) == 1

    def hold(self, lease: Lease) -> bool:
        """Confirm, inside the caller's transaction, that ``lease`` still holds the job, and
        keep it held until that transaction ends (the conditional UPDATE locks the job's row:
        a sweep or a cancel that would take the lease waits for the commit). An attempt makes
        its effect visible (a ladder switched in) in the same transaction, so an attempt whose
        lease was taken over never does."""
        result = self.session.exec(
            update(Job).where(*self._held(lease)).values(heartbeat_at=utcnow())
        )
        return _rowcount(result) == 1

    def complete(self, lease: Lease, message: str = "") -> bool:
        now = utcnow()
        result = self.session.exec(
            update(Job)
            .where(*self._held(lease))
            .values(
                status=JobStatus.SUCCEEDED,
                progress=1.0,
                message=message[:500],
                error=None,
                lease_token=None,
                finished_at=now,
                updated_at=now,
            )
        )
        self.session.commit()
        return _rowcount(result) == 1

    def fail(
        self,
        lease: Lease,
        error: str,
        *,
        retry_backoff: float,
        cause: FailureCause | None = None,
        transient: TransientRetry | None = None,
    ) -> Dispatch | None:
        """End the attempt with ``error``; returns the Dispatch of the retry, or None when the
        job failed for good (its kind's ``on_failed`` hook then runs in the same transaction).

        ``cause`` set: no retry can succeed (bad input, bad settings), fail now. ``transient``
        set: the failure may pass (storage restarting); retry with a backoff that grows with
        the time it has lasted, without using an attempt, until ``transient.window`` seconds.
        Otherwise the attempt counts, and the job fails once it has used its attempts.
        """
        now = utcnow()
        job = self.get(lease.job_id)
        self.session.refresh(job)
        values: dict[str, Any]
        if cause is None and transient is not None:
            since = job.transient_since or now
            lasted = (now - since).total_seconds()
            if lasted < transient.window:
                delay = min(transient.max_backoff, max(retry_backoff, lasted))
                values = {"attempts": job.attempts - 1, "transient_since": since}
            else:
                error = f"{error} (still failing after {lasted / 60:.0f} minutes of retries)"
                delay, cause = 0.0, FailureCause.EXHAUSTED
        elif cause is None and job.attempts < job.max_attempts:
            delay, values = retry_backoff * 2 ** (job.attempts - 1), {"transient_since": None}
        else:
            delay, cause = 0.0, cause or FailureCause.EXHAUSTED
        if cause is None:
            values |= {"status": JobStatus.QUEUED, "not_before": now + timedelta(seconds=delay),
                       "dispatched_at": now}  # fmt: skip
        else:
            values = {"status": JobStatus.FAILED, "finished_at": now}
        statement = (
            update(Job)
            .where(*self._held(lease))
            .values(error=error, lease_token=None, updated_at=now, **values)
        )
        if cause is not None:
            failure = JobFailure(job.id or lease.job_id, job.kind, dict(job.payload), error,
                                 job.attempts, cause)  # fmt: skip
            self.record_final_failure(statement, failure)
            return None
        result = self.session.exec(statement)
        self.session.commit()
        if _rowcount(result) != 1:
            return None
        return Dispatch(
            job.id or lease.job_id, job.kind, job.queue, delay, own_time_limit(job.payload)
        )

    def record_final_failure(self, statement: Any, failure: JobFailure) -> None:
        """Apply ``statement`` (the job's move to failed) and the kind's ``on_failed`` hook in
        one transaction. A hook that raises is logged and the failure recorded without it:
        the job must not stay running because its hook broke."""
        kind = self.registry.get(failure.kind) if failure.kind in self.registry else None
        if _rowcount(self.session.exec(statement)) != 1:
            self.session.rollback()  # the lease was lost meanwhile: not ours to record
            return
        if kind is not None and kind.on_failed is not None:
            try:
                kind.on_failed(self.session, failure)
                self.session.commit()
                return
            except Exception:
                log.exception("job %s: the on_failed hook of %s failed", failure.job_id, kind.name)
                self.session.rollback()
                self.session.exec(statement)
        self.session.commit()

    @staticmethod
    def _held(lease: Lease) -> tuple[Any, ...]:
        return (
            col(Job.id) == lease.job_id,
            col(Job.lease_token) == lease.token,
            col(Job.status) == JobStatus.RUNNING,
        )

    # --- workers --------------------------------------------------------------------------

    def touch_worker(self, name: str, queues: str) -> None:
        now = utcnow()
        presence = self.session.get(WorkerPresence, name)
        if presence is None:
            presence = WorkerPresence(name=name, queues=queues, started_at=now, last_seen=now)
        presence.last_seen, presence.queues = now, queues
        self.session.add(presence)
        self.session.commit()

    def forget_worker(self, name: str) -> None:
        presence = self.session.get(WorkerPresence, name)
        if presence is not None:
            self.session.delete(presence)
            self.session.commit()

    def live_workers(self, within_seconds: float) -> list[WorkerPresence]:
        since = utcnow() - timedelta(seconds=within_seconds)
        query = select(WorkerPresence).where(col(WorkerPresence.last_seen) >= since)
        return list(self.session.exec(query))
