"""The job ledger's state machine on SQLite and PostgreSQL: claims are exclusive, heartbeats
keep a lease, the sweep recovers lost work and stops poison jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col

from training.base import utcnow
from training.errors import ValidationError
from training.jobs.models import Job, JobStatus
from training.jobs.registry import FailureCause, JobFailure, JobKind, JobRegistry
from training.jobs.services import (
    DISPATCH_KEY,
    JobService,
    Lease,
    TransientRetry,
    take_pending_dispatches,
)
from training.jobs.sweep import SweepService

registry = JobRegistry()


@registry.kind("ledger.noop", queue="media", max_attempts=2)
def noop(ctx: object, payload: dict[str, object]) -> None:
    del ctx, payload


KIND: JobKind = registry.get("ledger.noop")


def note_failure(session: Session, failure: JobFailure) -> None:
    """Records the failure as a row of its own, in the transaction that fails the job."""
    JobService(session, registry).enqueue(KIND, {"failed": failure.job_id,
                                                 "cause": failure.cause.value})  # fmt: skip


def broken_hook(session: Session, failure: JobFailure) -> None:
    note_failure(session, failure)
    raise RuntimeError("the hook is broken")


registry.kind("ledger.hooked", max_attempts=2, on_failed=note_failure)(noop)
registry.kind("ledger.broken-hook", max_attempts=1, on_failed=broken_hook)(noop)


def enqueue(session: Session, **kwargs: object) -> Job:
    job = JobService(session).enqueue(KIND, {"lecture": 1}, **kwargs)  # type: ignore[arg-type]
    session.commit()
    return job


def age_heartbeat(session: Session, job_id: int, seconds: float) -> None:
    session.exec(
        update(Job)
        .where(col(Job.id) == job_id)
        .values(heartbeat_at=utcnow() - timedelta(seconds=seconds))
    )  # type: ignore[call-overload]
    session.commit()


def test_enqueue_announces_the_job_only_through_the_committing_session(session: Session) -> None:
    job = JobService(session).enqueue(KIND, {"lecture": 1})
    pending = session.info[DISPATCH_KEY]
    assert [(d.job_id, d.queue) for d in pending] == [(job.id, "media")]
    assert [d.job_id for d in take_pending_dispatches(session)] == [job.id]
    assert take_pending_dispatches(session) == []


def test_enqueue_with_the_same_dedupe_key_returns_the_existing_job(session: Session) -> None:
    first = enqueue(session, dedupe_key="transcode:lecture:1")
    second = enqueue(session, dedupe_key="transcode:lecture:1")
    assert first.id == second.id
    assert len(JobService(session).recent()) == 1


def test_only_one_of_two_claims_wins(session: Session) -> None:
    job = enqueue(session)
    assert job.id is not None
    service = JobService(session)
    first = service.claim(job.id, "worker-a")
    second = service.claim(job.id, "worker-b")
    assert first is not None
    assert second is None
    job = service.get(job.id)
    assert (job.status, job.attempts, job.deliveries, job.leased_by) == (
        JobStatus.RUNNING,
        1,
        2,
        "worker-a",
    )


def test_heartbeat_records_progress_and_fails_once_the_lease_is_gone(session: Session) -> None:
    job = enqueue(session)
    assert job.id is not None
    service = JobService(session)
    lease = service.claim(job.id, "worker-a")
    assert lease is not None
    assert service.heartbeat(lease, 0.4, "encoding 720p")
    assert (service.get(job.id).progress, service.get(job.id).message) == (0.4, "encoding 720p")
    service.cancel(job.id)
    session.commit()
    assert not service.heartbeat(lease, 0.5, "late")
    assert not service.complete(lease)
    assert service.get(job.id).status is JobStatus.CANCELLED


def test_failure_is_retried_with_backoff_then_fails_for_good(session: Session) -> None:
    job = enqueue(session)
    assert job.id is not None
    service = JobService(session)
    lease = service.claim(job.id, "w")
    assert lease is not None
    retry = service.fail(lease, "ValueError: bad", retry_backoff=10)
    assert retry is not None
    assert retry.countdown == 10
    assert service.get(job.id).status is JobStatus.QUEUED
    assert service.claim(job.id, "w") is None  # not due yet: the backoff holds
    session.exec(update(Job).where(col(Job.id) == job.id).values(not_before=utcnow()))  # type: ignore[call-overload]
    session.commit()
    lease = service.claim(job.id, "w")
    assert lease is not None
    assert service.fail(lease, "ValueError: still bad", retry_backoff=10) is None
    job = service.get(job.id)
    assert (job.status, job.attempts, job.error) == (JobStatus.FAILED, 2, "ValueError: still bad")
    assert job.finished_at is not None


def test_sweep_requeues_a_job_whose_worker_stopped_heartbeating(session: Session) -> None:
    job = enqueue(session)
    assert job.id is not None
    service = JobService(session)
    lease = service.claim(job.id, "dead-worker")
    assert lease is not None
    assert (
        SweepService(session).sweep(lease_seconds=60, redispatch_after=60) == []
    )  # fresh heartbeat: alive
    age_heartbeat(session, job.id, 120)
    due = SweepService(session).sweep(lease_seconds=60, redispatch_after=60)
    assert [d.job_id for d in due] == [job.id]
    job = service.get(job.id)
    assert job.status is JobStatus.QUEUED
    assert "dead-worker lost during attempt 1" in (job.error or "")
    assert not service.heartbeat(lease, 0.9, "zombie")  # the old attempt cannot come back


def test_sweep_fails_a_job_that_killed_its_worker_on_every_attempt(session: Session) -> None:
    job = enqueue(session)
    assert job.id is not None
    service = JobService(session)
    for _ in range(KIND.max_attempts):
        assert service.claim(job.id, "w") is not None
        age_heartbeat(session, job.id, 120)
        SweepService(session).sweep(lease_seconds=60, redispatch_after=60)
    job = service.get(job.id)
    assert job.status is JobStatus.FAILED
    assert job.attempts == 2
    assert "lost during attempt 2" in (job.error or "")


def test_sweep_announces_again_a_queued_job_nobody_claimed(session: Session) -> None:
    job = enqueue(session)
    assert job.id is not None
    sweep = SweepService(session)
    sweep.mark_dispatched([job.id], utcnow() - timedelta(seconds=300))
    assert [d.job_id for d in sweep.sweep(lease_seconds=60, redispatch_after=120)] == [job.id]
    assert sweep.sweep(lease_seconds=60, redispatch_after=120) == []  # just announced


def test_restart_queues_a_failed_job_from_its_first_attempt(session: Session) -> None:
    job = enqueue(session)
    assert job.id is not None
    service = JobService(session)
    with pytest.raises(ValidationError):
        service.restart(job.id)
    service.cancel(job.id)
    restarted = service.restart(job.id)
    assert (restarted.status, restarted.attempts, restarted.error) == (JobStatus.QUEUED, 0, None)


def claimed(session: Session, kind: str) -> tuple[JobService, Lease]:
    service = JobService(session, registry)
    job = service.enqueue(registry.get(kind), {"lecture": 1})
    session.commit()
    assert job.id is not None
    lease = service.claim(job.id, "w")
    assert lease is not None
    return service, lease


def due_now(session: Session, job_id: int) -> None:
    session.exec(update(Job).where(col(Job.id) == job_id).values(not_before=utcnow()))  # type: ignore[call-overload]
    session.commit()


def test_transient_failures_use_no_attempt_and_wait_longer_each_time(session: Session) -> None:
    service, lease = claimed(session, "ledger.noop")
    window = TransientRetry(window=3600, max_backoff=120)
    waits = []
    for _ in range(4):  # twice the kind's attempts
        retry = service.fail(lease, "StorageUnavailable: down", retry_backoff=1, transient=window)
        assert retry is not None
        waits.append(retry.countdown)
        job = service.get(lease.job_id)
        assert (job.status, job.attempts) == (JobStatus.QUEUED, 0)
        assert job.transient_since is not None
        session.exec(  # type: ignore[call-overload]
            update(Job).where(col(Job.id) == lease.job_id)
            .values(transient_since=job.transient_since - timedelta(seconds=30))
        )  # fmt: skip
        due_now(session, lease.job_id)
        next_lease = service.claim(lease.job_id, "w")
        assert next_lease is not None
        lease = next_lease
    assert waits[0] == 1  # the first wait is the plain backoff
    assert waits == sorted(waits)
    assert waits[-1] >= 90  # it has been failing for 90 s: wait about as long again
    assert service.complete(lease)
    assert service.get(lease.job_id).attempts == 1


def test_transient_failures_past_the_window_fail_for_good(session: Session) -> None:
    service, lease = claimed(session, "ledger.hooked")
    down = "StorageUnavailable: down"
    assert service.fail(lease, down, retry_backoff=0, transient=TransientRetry(window=3600))
    since = service.get(lease.job_id).transient_since
    assert since is not None
    due_now(session, lease.job_id)
    again = service.claim(lease.job_id, "w")
    assert again is not None
    assert service.fail(again, down, retry_backoff=0, transient=TransientRetry(window=0)) is None
    job = service.get(lease.job_id)
    assert (job.status, job.transient_since) == (JobStatus.FAILED, since)
    assert "minutes of retries" in (job.error or "")
    service.restart(lease.job_id)  # the operator fixed the storage: a fresh window
    session.commit()
    assert service.get(lease.job_id).transient_since is None


def test_a_job_failed_for_good_runs_its_hook_in_the_same_transaction(session: Session) -> None:
    service, lease = claimed(session, "ledger.hooked")
    assert service.fail(lease, "ValidationError: not media", retry_backoff=0,
                        cause=FailureCause.INPUT) is None  # fmt: skip
    notes = [job.payload for job in service.recent() if job.kind == "ledger.noop"]
    assert notes == [{"failed": lease.job_id, "cause": "input"}]
    assert service.get(lease.job_id).attempts == 1  # bad input: no second attempt


def test_a_broken_hook_does_not_keep_the_job_from_failing(session: Session) -> None:
    service, lease = claimed(session, "ledger.broken-hook")
    assert service.fail(lease, "ValueError: bad", retry_backoff=0) is None
    assert service.get(lease.job_id).status is JobStatus.FAILED
    assert [job.kind for job in service.recent()] == ["ledger.broken-hook"]  # hook rolled back


def test_the_sweep_runs_the_hook_of_a_job_whose_last_worker_died(session: Session) -> None:
    service, lease = claimed(session, "ledger.hooked")
    for attempt in range(2):
        if attempt:
            assert service.claim(lease.job_id, "w") is not None
        age_heartbeat(session, lease.job_id, 120)
        SweepService(session, registry).sweep(lease_seconds=60, redispatch_after=60)
    assert service.get(lease.job_id).status is JobStatus.FAILED
    notes = [job.payload for job in service.recent() if job.kind == "ledger.noop"]
    assert notes == [{"failed": lease.job_id, "cause": "exhausted"}]
