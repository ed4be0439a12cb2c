"""The job of record and the workers' presence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Column, Field, SQLModel, Text

from training.base import UTCDateTime, str_enum, utcnow


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True)
class Lease:
    """A worker's claim on one attempt of one job."""

    job_id: int
    token: str
    attempt: int
    kind: str
    payload: dict[str, Any]


class Job(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=80, index=True)
    queue: str = Field(max_length=32)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # One live job per key (e.g. "transcode:lecture:12"): enqueueing the same step twice
    # returns the job already there.
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    status: JobStatus = Field(default=JobStatus.QUEUED, sa_type=str_enum(JobStatus), index=True)
    attempts: int = 0
    max_attempts: int = 3
    deliveries: int = 0  # messages that reached a worker, duplicates included
    lease_token: str | None = Field(default=None, max_length=64)
    leased_by: str | None = Field(default=None, max_length=200)
    heartbeat_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    not_before: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    dispatched_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    progress: float = 0.0
    message: str = Field(default="", max_length=500)
    error: str | None = Field(default=None, sa_column=Column(Text))
    # When this run of transient failures (object storage unreachable, 5xx) began: such
    # failures are retried without using attempts until ``JobSettings.transient_retry_seconds``.
    transient_since: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class WorkerPresence(SQLModel, table=True):
    """A worker process that said it is alive; readiness checks and `clinicast jobs` read it."""

    __tablename__ = "worker_presence"

    name: str = Field(primary_key=True, max_length=200)
    queues: str = Field(default="", max_length=200)
    started_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    last_seen: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
