"""Lectures and their audience."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Column, Field, SQLModel

from training.base import UTCDateTime, str_enum, utcnow


class LectureStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"  # a live lecture after its end: its live ladder plays until the VOD replaces it
    PROCESSING = "processing"
    PUBLISHED = "published"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Language(StrEnum):
    ZH = "zh"
    EN = "en"


class Lecture(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=300)
    description: str = Field(default="", max_length=10_000)
    keywords: str = Field(default="", max_length=1_000)
    language: Language = Field(default=Language.ZH, sa_type=str_enum(Language))
    specialist_id: int = Field(foreign_key="app_user.id", index=True)
    scheduled_start: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, index=True)
    )
    duration_minutes: int = Field(default=60, ge=1, le=24 * 60)
    status: LectureStatus = Field(
        default=LectureStatus.DRAFT, sa_type=str_enum(LectureStatus), index=True
    )
    mandatory: bool = False
    attendance_share: float = Field(default=0.5, ge=0.0, le=1.0)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class LectureAudience(SQLModel, table=True):
    """One entry of a lecture's audience: a clinic, or (``include_subtree``) a clinic and
    every clinic below it."""

    __tablename__ = "lecture_audience"

    lecture_id: int = Field(foreign_key="lecture.id", primary_key=True, ondelete="CASCADE")
    clinic_id: int = Field(foreign_key="clinic.id", primary_key=True, index=True)
    include_subtree: bool = True
