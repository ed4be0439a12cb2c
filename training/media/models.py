"""A lecture's media: its source recording and the renditions made from it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Column, Field, SQLModel, Text

from training.base import UTCDateTime, str_enum, utcnow


class MediaState(StrEnum):
    UPLOADING = "uploading"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class MediaAsset(SQLModel, table=True):
    """One per lecture. Keys are object-store keys; ``hls_prefix`` points at the attempt whose
    ladder is switched in (``lectures/12/attempts/1-1a2b3c4d/``), so a retried or half-done
    transcode never shows."""

    __tablename__ = "media_asset"

    lecture_id: int = Field(foreign_key="lecture.id", primary_key=True, ondelete="CASCADE")
    state: MediaState = Field(default=MediaState.UPLOADING, sa_type=str_enum(MediaState))
    generation: int = 0  # completed uploads; the pipeline of each is a new set of jobs
    upload_id: str | None = Field(default=None, max_length=200)
    upload_size: int = 0
    source_key: str | None = Field(default=None, max_length=400)
    source_filename: str = Field(default="", max_length=300)
    source_size: int = 0
    content_type: str = Field(default="", max_length=100)
    duration: float | None = None
    has_video: bool = True
    width: int | None = None
    height: int | None = None
    description: str = Field(default="", max_length=300)
    hls_prefix: str | None = Field(default=None, max_length=400)
    master: str | None = Field(default=None, max_length=200)
    renditions: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    poster: str | None = Field(default=None, max_length=200)
    thumbnails: str | None = Field(default=None, max_length=200)
    download: str | None = Field(default=None, max_length=200)
    captions_key: str | None = Field(default=None, max_length=400)
    error: str | None = Field(default=None, sa_column=Column(Text))
    # Why the pipeline stopped, for people: the step that failed and whose it is to fix
    # (``FailureCause``: the uploader's bad file, or the platform's failure after its retries).
    failed_step: str | None = Field(default=None, max_length=80)
    failure_cause: str | None = Field(default=None, max_length=40)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )

    def key(self, relative: str) -> str:
        """The object key of a file of the switched-in ladder."""
        if self.hls_prefix is None:
            raise ValueError("no ladder yet")
        return self.hls_prefix + relative.lstrip("/")
