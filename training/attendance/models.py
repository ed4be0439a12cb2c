"""What attendance stores: the heartbeats as they came (append-only, one row per session and
sequence number, so a repeated heartbeat counts once) and one running aggregate per viewing
session, updated in the same transaction as its heartbeats arrive, from which every report is
computed (``services.AttendanceAccounting``).

Indexes are few on purpose: heartbeats are the hottest write of the portal, and every index is
one more B-tree to update per row. Reports read sessions, never heartbeats."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from training.base import UTCDateTime, str_enum, utcnow


class ViewingMode(StrEnum):
    LIVE = "live"
    VOD = "vod"


class Heartbeat(SQLModel, table=True):
    """One heartbeat of a player: the interval of the lecture's timeline played since the
    previous one (seconds from the start of the recording; for live, from the start of the
    broadcast, which is the same timeline once the lecture is on demand)."""

    __tablename__ = "attendance_heartbeat"
    __table_args__ = (UniqueConstraint("user_id", "session_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    # The unique (user_id, session_id, seq) index serves look-ups by user as well.
    user_id: int = Field(foreign_key="app_user.id")
    session_id: str = Field(max_length=64)
    seq: int = Field(ge=0)
    lecture_id: int = Field(foreign_key="lecture.id", index=True, ondelete="CASCADE")
    clinic_id: int | None = Field(default=None, foreign_key="clinic.id")  # at ingestion time
    mode: ViewingMode = Field(sa_type=str_enum(ViewingMode))
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    playing: bool = True
    rendition: str = Field(default="", max_length=16)
    stalls: int = Field(default=0, ge=0)
    stalled_s: float = Field(default=0.0, ge=0)
    head_count: int = Field(default=1, ge=1)
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class ViewingSession(SQLModel, table=True):
    """A player's session on one lecture, as its heartbeats have told it so far. Intervals are
    kept merged (sorted, disjoint ``[start, end]`` pairs), per mode."""

    __tablename__ = "attendance_session"
    __table_args__ = (UniqueConstraint("user_id", "session_id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id")  # the unique index serves look-ups by user
    session_id: str = Field(max_length=64)
    lecture_id: int = Field(foreign_key="lecture.id", index=True, ondelete="CASCADE")
    # The user's clinic when the session began: a doctor who moves later keeps their history
    # with the clinic they watched from.
    clinic_id: int | None = Field(default=None, foreign_key="clinic.id", index=True)
    live_intervals: list[list[float]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    vod_intervals: list[list[float]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # Of the latest heartbeat (by seq): a late, older heartbeat does not overwrite them.
    head_count: int = Field(default=1, ge=1)
    mode: ViewingMode = Field(default=ViewingMode.VOD, sa_type=str_enum(ViewingMode))
    rendition: str = Field(default="", max_length=16)
    last_seq: int = -1
    stalls: int = 0
    stalled_s: float = 0.0
    # Seconds played per rendition ("1080", "360", "audio"): the rung mostly watched.
    rendition_seconds: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    first_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    # Not indexed: updated by every batch (an index on it would also stop PostgreSQL's HOT
    # updates); "watching now" reads a lecture's sessions through lecture_id.
    last_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
