"""The sweep: every worker runs it every few seconds to recover what the broker lost or a dead
worker left behind. Safe in many processes at once: every change is a conditional UPDATE."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from training.base import utcnow
from training.jobs.models import Job, JobStatus
from training.jobs.registry import (
    FailureCause,
    JobFailure,
    JobRegistry,
    own_time_limit,
    registry,
)
from training.jobs.services import JobService
from training.ports import Dispatch


class SweepService:
    def __init__(self, session: Session, job_registry: JobRegistry = registry) -> None:
        self.session = session
        self.jobs = JobService(session, job_registry)

    def sweep(self, *, lease_seconds: float, redispatch_after: float) -> list[Dispatch]:
        """Recover what the broker lost or a dead worker left behind.

        A running job whose heartbeat is older than ``lease_seconds`` lost its worker: it is
        queued again, or failed once it has used its attempts (a poison file that kills every
        worker it touches stops here). A queued job announced longer than ``redispatch_after``
        ago and still not claimed lost its message: it is announced again. Safe to run in many
        processes at once: every change is conditional, and a duplicate announcement finds
        nothing to claim.
        """
        now = utcnow()
        self._reclaim_stale(now - timedelta(seconds=lease_seconds), now)
        due = self.session.exec(
            select(Job).where(
                col(Job.status) == JobStatus.QUEUED,
                col(Job.not_before) <= now,
                or_(
                    col(Job.dispatched_at).is_(None),
                    col(Job.dispatched_at) < now - timedelta(seconds=redispatch_after),
                ),
            )
        ).all()
        dispatches = [
            Dispatch(job.id, job.kind, job.queue, 0.0, own_time_limit(job.payload))
            for job in due
            if job.id is not None
        ]
        self.mark_dispatched([d.job_id for d in dispatches], now)
        return dispatches

    def _reclaim_stale(self, cutoff: datetime, now: datetime) -> None:
        stale = self.session.exec(
            select(Job).where(col(Job.status) == JobStatus.RUNNING, col(Job.heartbeat_at) < cutoff)
        ).all()
        for job in stale:
            lost = f"worker {job.leased_by} lost during attempt {job.attempts} (no heartbeat)"
            final = job.attempts >= job.max_attempts
            error = lost if not job.error or final else f"{lost}; before: {job.error}"
            statement = (
                update(Job)
                .where(
                    col(Job.id) == job.id,
                    col(Job.lease_token) == job.lease_token,
                    col(Job.heartbeat_at) < cutoff,
                )
                .values(
                    status=JobStatus.FAILED if final else JobStatus.QUEUED,
                    error=error,
                    lease_token=None,
                    dispatched_at=None,
                    finished_at=now if final else None,
                    updated_at=now,
                )
            )
            if final:
                failure = JobFailure(job.id or 0, job.kind, dict(job.payload), error,
                                     job.attempts, FailureCause.EXHAUSTED)  # fmt: skip
                self.jobs.record_final_failure(statement, failure)
            else:
                self.session.exec(statement)
        self.session.commit()

    def mark_dispatched(self, job_ids: list[int], now: datetime | None = None) -> None:
        if job_ids:
            self.session.exec(
                update(Job)
                .where(and_(col(Job.id).in_(job_ids), col(Job.status) == JobStatus.QUEUED))
                .values(dispatched_at=now or utcnow())
            )
            self.session.commit()
