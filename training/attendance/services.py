"""Attendance accounting: what each session, doctor and clinic watched of a lecture, computed
from the viewing sessions' merged intervals (``AttendanceAccounting``), and the ingestion of
heartbeats that keeps those sessions current (``AttendanceIngest``, in ``ingest.py``).

The rules: watched time is the length of the union of the intervals played, clipped to the
lecture's length, so rewatching never counts twice; live time is the time on air that was
watched; a clinic's watched time is the union over all its sessions and both modes; a clinic
attended when its share reaches the lecture's ``attendance_share``; its head count is the sum,
over its doctors, of each one's largest latest head count. Reports (``reports.py``,
``exports.py``) build on these figures and compute none of their own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlmodel import Session, col

from training.attendance import intervals
from training.attendance.ingest import AttendanceIngest, IngestResult
from training.attendance.models import ViewingMode, ViewingSession
from training.attendance.rules import attended, lecture_length_s, share_of
from training.base import utcnow
from training.lectures.models import Lecture
from training.media.models import MediaAsset

__all__ = [
    "AttendanceAccounting",
    "AttendanceIngest",
    "ClinicFigures",
    "IngestResult",
    "LectureFigures",
    "LectureRecord",
    "UserFigures",
    "WatchingNow",
]

CHUNK = 500  # ids per IN (...): well under SQLite's and psycopg's parameter limits


@dataclass(frozen=True)
class UserFigures:
    user_id: int
    clinic_id: int | None  # of the user's latest session
    watched_s: float
    live_s: float
    vod_s: float
    head_count: int  # the largest latest head count over the user's sessions


@dataclass(frozen=True)
class ClinicFigures:
    clinic_id: int
    watched_s: float
    live_s: float
    vod_s: float
    share: float  # watched_s / the lecture's length, 0 to 1
    attended: bool
    head_count: int
    viewers: int  # distinct users
    sessions: int
    stalls: int
    stalled_s: float
    played_s: float  # seconds of media played (rewatching counts again), for the QoE rates
    stalls_per_hour: float
    stalled_share: float  # stalled_s / (played_s + stalled_s)
    main_rendition: str  # the rendition played longest ("" when unknown)


@dataclass(frozen=True)
class LectureFigures:
    lecture_id: int
    length_s: float
    attendance_share: float
    clinics: dict[int, ClinicFigures] = field(default_factory=dict)
    users: dict[int, UserFigures] = field(default_factory=dict)


@dataclass(frozen=True)
class WatchingNow:
    user_id: int
    clinic_id: int | None
    head_count: int
    rendition: str
    mode: ViewingMode
    last_seen_at: datetime


@dataclass(frozen=True)
class LectureRecord:
    """One lecture of a doctor's training record."""

    lecture_id: int
    title: str
    watched_s: float
    live_s: float
    vod_s: float
    hours: float  # watched_s / 3600: continuing-education credit


@dataclass
class _Watched:
    """Intervals gathered over several sessions, per mode."""

    live: list[Sequence[float]] = field(default_factory=list)
    vod: list[Sequence[float]] = field(default_factory=list)

    def add(self, row: Row[Any]) -> None:
        self.live.extend(row.live_intervals)
        self.vod.extend(row.vod_intervals)

    def seconds(self, length_s: float) -> tuple[float, float, float]:
        """(watched, live, vod) within ``[0, length_s]``."""
        live = intervals.clip(self.live, length_s)
        vod = intervals.clip(self.vod, length_s)
        both = intervals.merge([*live, *vod])
        return intervals.length(both), intervals.length(live), intervals.length(vod)


_SESSION_COLUMNS = (
    col(ViewingSession.lecture_id),
    col(ViewingSession.user_id),
    col(ViewingSession.clinic_id),
    col(ViewingSession.live_intervals),
    col(ViewingSession.vod_intervals),
    col(ViewingSession.head_count),
    col(ViewingSession.stalls),
    col(ViewingSession.stalled_s),
    col(ViewingSession.rendition_seconds),
    col(ViewingSession.last_seen_at),
)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for offset in range(0, len(ids), CHUNK):
        yield ids[offset : offset + CHUNK]


class AttendanceAccounting:
    """Figures per lecture, clinic and user, read through one session in a bounded number of
    queries (two per 500 lectures)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def lecture_figures(self, lecture_id: int) -> LectureFigures:
        """The figures of one lecture (an unknown lecture has none: length 0, no clinics)."""
        found = self.lectures_figures([lecture_id])
        return found.get(lecture_id) or LectureFigures(lecture_id, 0.0, 1.0)

    def lectures_figures(self, lecture_ids: Iterable[int]) -> dict[int, LectureFigures]:
        """The figures of every lecture of ``lecture_ids`` that exists."""
        ids = sorted(set(lecture_ids))
        lectures = self._lengths(ids)
        rows: dict[int, list[Row[Any]]] = defaultdict(list)
        for chunk in _chunks(ids):
            query = select(*_SESSION_COLUMNS).where(col(ViewingSession.lecture_id).in_(chunk))
            for row in self.session.execute(query):
                rows[row.lecture_id].append(row)
        return {
            lecture_id: _figures(lecture_id, length_s, share, rows.get(lecture_id, []))
            for lecture_id, (length_s, share) in lectures.items()
        }

    def length_s(self, lecture_id: int) -> float:
        """A lecture's length as accounting uses it (0 for an unknown lecture)."""
        return self._lengths([lecture_id]).get(lecture_id, (0.0, 1.0))[0]

    def _lengths(self, ids: Sequence[int]) -> dict[int, tuple[float, float]]:
        """lecture id → (length in seconds, attendance share)."""
        found: dict[int, tuple[float, float]] = {}
        for chunk in _chunks(ids):
            query = (
                select(
                    col(Lecture.id),
                    col(Lecture.duration_minutes),
                    col(Lecture.attendance_share),
                    col(MediaAsset.duration),
                    col(MediaAsset.hls_prefix),
                )
                .outerjoin(MediaAsset, col(MediaAsset.lecture_id) == col(Lecture.id))
                .where(col(Lecture.id).in_(chunk))
            )
            for lecture_id, minutes, share, duration, ladder in self.session.execute(query):
                media = duration if ladder is not None else None
                found[lecture_id] = (lecture_length_s(minutes, media), share)
        return found

    def watching_now(
        self, lecture_id: int, within_s: float = 45, *, now: datetime | None = None
    ) -> list[WatchingNow]:
        """The sessions of the lecture heard from in the last ``within_s`` seconds, latest
        first."""
        since = (now or utcnow()) - timedelta(seconds=within_s)
        query = (
            select(ViewingSession)
            .where(
                col(ViewingSession.lecture_id) == lecture_id,
                col(ViewingSession.last_seen_at) >= since,
            )
            .order_by(col(ViewingSession.last_seen_at).desc())
        )
        return [
            WatchingNow(s.user_id, s.clinic_id, s.head_count, s.rendition, s.mode, s.last_seen_at)
            for s in self.session.scalars(query)
        ]

    def user_record(
        self, user_id: int, since: datetime | None = None, until: datetime | None = None
    ) -> list[LectureRecord]:
        """A doctor's training record: every lecture they watched from sessions active in
        ``[since, until)``, in the order first watched."""
        query = (
            select(*_SESSION_COLUMNS, col(ViewingSession.first_seen_at))
            .where(col(ViewingSession.user_id) == user_id)
            .order_by(col(ViewingSession.first_seen_at))
        )
        if since is not None:
            query = query.where(col(ViewingSession.last_seen_at) >= since)
        if until is not None:
            query = query.where(col(ViewingSession.first_seen_at) < until)
        watched: dict[int, _Watched] = {}
        for row in self.session.execute(query):
            watched.setdefault(row.lecture_id, _Watched()).add(row)
        lengths = self._lengths(sorted(watched))
        query_titles = select(col(Lecture.id), col(Lecture.title)).where(
            col(Lecture.id).in_(sorted(watched))
        )
        titles = {row.id: row.title for row in self.session.execute(query_titles)}
        record = []
        for lecture_id, gathered in watched.items():
            total, live, vod = gathered.seconds(lengths.get(lecture_id, (0.0, 1.0))[0])
            title = titles.get(lecture_id, "")
            record.append(LectureRecord(lecture_id, title, total, live, vod, total / 3600))
        return record


def _figures(
    lecture_id: int, length_s: float, share: float, rows: list[Row[Any]]
) -> LectureFigures:
    by_user: dict[int, list[Row[Any]]] = defaultdict(list)
    by_clinic: dict[int, list[Row[Any]]] = defaultdict(list)
    for row in rows:
        by_user[row.user_id].append(row)
        if row.clinic_id is not None:
            by_clinic[row.clinic_id].append(row)
    users = {user_id: _user(user_id, found, length_s) for user_id, found in by_user.items()}
    clinics = {}
    for clinic_id, found in by_clinic.items():
        # Most clinics have one doctor watching: their union is already the user's.
        user = users[found[0].user_id]
        mine = by_user[user.user_id]
        alone = len(found) == len(mine) and all(row.user_id == user.user_id for row in found)
        seconds = (user.watched_s, user.live_s, user.vod_s) if alone else None
        clinics[clinic_id] = _clinic(clinic_id, found, length_s, share, seconds)
    return LectureFigures(lecture_id, length_s, share, clinics, users)


def _user(user_id: int, rows: list[Row[Any]], length_s: float) -> UserFigures:
    gathered = _Watched()
    for row in rows:
        gathered.add(row)
    total, live, vod = gathered.seconds(length_s)
    latest = max(rows, key=lambda row: row.last_seen_at)
    head_count = max(row.head_count for row in rows)
    return UserFigures(user_id, latest.clinic_id, total, live, vod, head_count)


def _clinic(
    clinic_id: int,
    rows: list[Row[Any]],
    length_s: float,
    share: float,
    seconds: tuple[float, float, float] | None,
) -> ClinicFigures:
    """A clinic's figures; ``seconds`` (watched, live, vod) when already known."""
    rendition_seconds: dict[str, float] = defaultdict(float)
    for row in rows:
        for rendition, played in row.rendition_seconds.items():
            rendition_seconds[rendition] += played
    if seconds is None:
        gathered = _Watched()
        for row in rows:
            gathered.add(row)
        seconds = gathered.seconds(length_s)
    total, live, vod = seconds
    # A user's head count within this clinic: their largest latest one among its sessions.
    heads: dict[int, int] = {}
    for row in rows:
        heads[row.user_id] = max(heads.get(row.user_id, 0), row.head_count)
    stalls = sum(row.stalls for row in rows)
    stalled_s = sum(row.stalled_s for row in rows)
    played_s = sum(rendition_seconds.values())
    named = {name: seconds for name, seconds in rendition_seconds.items() if name}
    return ClinicFigures(
        clinic_id=clinic_id,
        watched_s=total,
        live_s=live,
        vod_s=vod,
        share=share_of(total, length_s),
        attended=attended(total, length_s, share),
        head_count=sum(heads.values()),
        viewers=len(heads),
        sessions=len(rows),
        stalls=stalls,
        stalled_s=stalled_s,
        played_s=played_s,
        stalls_per_hour=stalls / (played_s / 3600) if played_s > 0 else 0.0,
        stalled_share=stalled_s / (played_s + stalled_s) if played_s + stalled_s > 0 else 0.0,
        main_rendition=max(sorted(named), key=lambda name: named[name]) if named else "",
    )
