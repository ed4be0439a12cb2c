"""Driving a recording's pipeline inline in the tests: the same JobRunner the Celery workers
use, with its dispatches recorded instead of sent, and an upload through MediaService."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

import training.media.jobs  # noqa: F401 - registers the pipeline's job kinds
from infra.storage.s3 import S3BlobStore
from training.accounts.models import User
from training.accounts.services import AccountService
from training.jobs.models import Job, JobStatus
from training.jobs.runner import JobRunner
from training.media.services import PART_SIZE, MediaService
from training.ports import Dispatch


class Recorder:
    """A JobDispatcher that keeps what it was asked to announce."""

    def __init__(self) -> None:
        self.dispatched: list[Dispatch] = []

    def dispatch(self, dispatches: list[Dispatch]) -> None:
        self.dispatched.extend(dispatches)


def drain(runner: JobRunner, sessions: Callable[[], Session]) -> list[str]:
    """Run every queued job, in order, until none is left (what the workers would do)."""
    outcomes = []
    for _ in range(20):
        with sessions() as session:
            queued = session.exec(
                select(Job.id).where(col(Job.status) == JobStatus.QUEUED).order_by(col(Job.id))
            ).all()
        if not queued:
            return outcomes
        outcomes += [runner.run(job_id) for job_id in queued if job_id is not None]
    raise AssertionError(f"the pipeline did not settle: {outcomes}")


def user(session: Session, name: str) -> User:
    found = AccountService(session).by_username(name)
    assert found is not None
    return found


def upload(
    session: Session,
    blobs: S3BlobStore,
    lecture_id: int,
    source: Path,
    *,
    drop_after: int | None = None,
) -> Any:
    """The specialist uploads ``source`` in parts (stopping after ``drop_after`` parts, as a
    dropped connection would) and completes it, which queues the probe."""
    service = MediaService(session, blobs)
    specialist = user(session, "specialist")
    data = source.read_bytes()
    state = service.begin_upload(
        specialist, lecture_id, filename=source.name, size=len(data), content_type="video/mp4"
    )
    for number in range(1, state.part_count + 1):
        if number in state.parts:  # resuming: already received
            continue
        if drop_after is not None and number > drop_after:
            return state
        chunk = data[(number - 1) * PART_SIZE : number * PART_SIZE]
        service.upload_part(specialist, lecture_id, state.upload_id, number, chunk)
    asset = service.complete_upload(specialist, lecture_id, state.upload_id)
    session.commit()
    return asset
