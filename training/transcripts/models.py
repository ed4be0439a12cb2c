"""A lecture's transcript as stored: one row per lecture, one row per recognised segment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Column, Field, SQLModel, Text

from training.base import UTCDateTime, utcnow


class Transcript(SQLModel, table=True):
    """What speech-to-text made of a lecture's audio (at most one per lecture)."""

    id: int | None = Field(default=None, primary_key=True)
    lecture_id: int = Field(foreign_key="lecture.id", unique=True, ondelete="CASCADE")
    language: str = Field(max_length=16)
    duration: float = Field(ge=0.0)  # seconds of audio
    model: str = Field(default="", max_length=200)  # e.g. "faster-whisper small int8"
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class TranscriptSegment(SQLModel, table=True):
    """One stretch of speech, in seconds from the start of the recording. ``position`` is its
    order in the transcript (0, 1, 2…); ``edited`` marks text a specialist corrected by hand."""

    __tablename__ = "transcript_segment"
    __table_args__ = (UniqueConstraint("transcript_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    transcript_id: int = Field(foreign_key="transcript.id", ondelete="CASCADE")
    lecture_id: int = Field(foreign_key="lecture.id", index=True, ondelete="CASCADE")
    position: int = Field(ge=0)
    start: float = Field(ge=0.0)
    end: float = Field(ge=0.0)
    text: str = Field(sa_column=Column(Text, nullable=False))
    edited: bool = False
