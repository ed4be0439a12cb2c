"""Heartbeat ingestion, write-optimised: a batch is one transaction of three statements
whatever its size (create the missing sessions and return all of the batch's, locked; append
the heartbeats; update the sessions), never a statement per heartbeat.

Idempotent: heartbeats are appended with ``INSERT … ON CONFLICT DO NOTHING RETURNING`` on the
unique (user_id, session_id, seq), so a batch sent twice (a retry after a lost answer, the
offline queue replayed after a reload) adds only what was not there, and only the heartbeats
actually inserted change the session's aggregate. The session rows are locked before they are
read (PostgreSQL: the row locks of ``ON CONFLICT DO UPDATE``; SQLite: that first statement is
a write, which takes the database's one write lock), so two batches of one session arriving at
once are applied one after the other and neither update is lost.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session, col

from training.accounts.models import User
from training.attendance.rules import (
    MAX_BATCH,
    HeartbeatIn,
    LectureTimeline,
    RejectedHeartbeat,
    Rejection,
    check_against,
    folded,
    lecture_length_s,
    live_since,
    parse_heartbeat,
)
from training.attendance.statements import SESSIONS, statements, writing
from training.base import utcnow
from training.errors import ValidationError
from training.lectures.models import Lecture, LectureStatus
from training.lectures.services import LectureService
from training.media.models import MediaAsset

NEVER_LIVE = frozenset({LectureStatus.DRAFT, LectureStatus.CANCELLED})


class RecentTimelines:
    """Which lectures each user was recently found allowed to watch, for ``ttl_s`` s: a player
    sends a heartbeat every 15 s for the same lecture, and the visibility rule costs three
    queries, more than appending the heartbeat. An audience narrowed, or a recording's length
    switched in, applies to heartbeats within ``ttl_s``. Refusals are not remembered."""

    def __init__(self, ttl_s: float = 30.0, size: int = 50_000) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._found: OrderedDict[Hashable, tuple[float, LectureTimeline]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> LectureTimeline | None:
        with self._lock:
            found = self._found.get(key)
            if found is None or found[0] < time.monotonic():
                return None
            return found[1]

    def put(self, key: Hashable, timeline: LectureTimeline) -> None:
        with self._lock:
            self._found[key] = (time.monotonic() + self.ttl_s, timeline)
            self._found.move_to_end(key)
            while len(self._found) > self.size:
                self._found.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._found.clear()


RECENT = RecentTimelines()


@dataclass(frozen=True)
class Rejected:
    index: int  # of the heartbeat in the batch
    code: Rejection
    message: str


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)


class AttendanceIngest:
    """Heartbeats into the database through one session. A batch is its own transaction:
    ``ingest`` commits."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    def ingest(
        self, user: User, items: Sequence[object], *, now: datetime | None = None
    ) -> IngestResult:
        """Check every item of a batch on its own, append the valid ones that are new and
        bring their sessions up to date. ValidationError only for a batch too large."""
        if len(items) > MAX_BATCH:
            raise ValidationError(f"at most {MAX_BATCH} heartbeats per batch")
        now = now or utcnow()
        result = IngestResult()
        checked = self._checked(user, items, now, result)
        unique: dict[tuple[str, int], tuple[int, HeartbeatIn]] = {}
        for index, heartbeat in checked:
            unique.setdefault((heartbeat.session_id, heartbeat.seq), (index, heartbeat))
        result.duplicates += len(checked) - len(unique)
        if unique:
            with writing(self.dialect):
                self._write(user, list(unique.values()), now, result)
                self.session.commit()
        result.rejected.sort(key=lambda rejected: rejected.index)
        return result

    def _write(
        self, user: User, unique: list[tuple[int, HeartbeatIn]], now: datetime,
        result: IngestResult,
    ) -> None:  # fmt: skip
        """The batch's transaction: lock its sessions, append, fold into the sessions."""
        sessions = self._locked_sessions(user, [hb for _, hb in unique], now)
        fitting: list[HeartbeatIn] = []
        for index, heartbeat in unique:
            lecture_id = sessions[heartbeat.session_id]["lecture_id"]
            if lecture_id != heartbeat.lecture_id:
                message = f"session {heartbeat.session_id} is watching lecture {lecture_id}"
                result.rejected.append(Rejected(index, Rejection.INVALID, message))
            else:
                fitting.append(heartbeat)
        inserted = self._append(user, fitting, now)
        result.accepted = len(inserted)
        result.duplicates += len(fitting) - len(inserted)
        self._update_sessions(sessions, inserted, now)

    def _checked(
        self, user: User, items: Sequence[object], now: datetime, result: IngestResult
    ) -> list[tuple[int, HeartbeatIn]]:
        """The items that are well formed and fit a lecture the user may see; the others go
        to ``result.rejected``."""
        parsed: list[tuple[int, HeartbeatIn]] = []
        for index, raw in enumerate(items):
            try:
                parsed.append((index, parse_heartbeat(raw)))
            except RejectedHeartbeat as exc:
                result.rejected.append(Rejected(index, exc.code, exc.message))
        timelines = self._timelines(user, {heartbeat.lecture_id for _, heartbeat in parsed}, now)
        checked = []
        for index, heartbeat in parsed:
            timeline = timelines.get(heartbeat.lecture_id)
            try:
                if timeline is None:
                    raise RejectedHeartbeat(
                        Rejection.NOT_IN_AUDIENCE,
                        f"lecture {heartbeat.lecture_id} is not one {user.username} may watch",
                    )
                check_against(heartbeat, timeline, now)
            except RejectedHeartbeat as exc:
                result.rejected.append(Rejected(index, exc.code, exc.message))
            else:
                checked.append((index, heartbeat))
        return checked

    def _timelines(
        self, user: User, lecture_ids: set[int], now: datetime
    ) -> dict[int, LectureTimeline]:
        """The lectures among ``lecture_ids`` that ``user`` may see (the lectures area's one
        visibility rule), with their lengths: from the recent checks where they are there."""
        database = str(self.session.get_bind().engine.url)
        keys = {lecture_id: (database, user.id, user.role, user.clinic_id, lecture_id)
                for lecture_id in lecture_ids}  # fmt: skip
        timelines = {lecture_id: RECENT.get(key) for lecture_id, key in keys.items()}
        missing = {lecture_id for lecture_id, found in timelines.items() if found is None}
        if missing:
            for timeline in self._visible_timelines(user, missing):
                RECENT.put(keys[timeline.lecture_id], timeline)
                timelines[timeline.lecture_id] = timeline
        return {lecture_id: found for lecture_id, found in timelines.items() if found}

    def _visible_timelines(self, user: User, lecture_ids: set[int]) -> list[LectureTimeline]:
        query = (
            select(
                col(Lecture.id),
                col(Lecture.duration_minutes),
                col(Lecture.scheduled_start),
                col(Lecture.status),
                col(MediaAsset.duration),
                col(MediaAsset.hls_prefix),
            )
            .outerjoin(MediaAsset, col(MediaAsset.lecture_id) == col(Lecture.id))
            .where(col(Lecture.id).in_(sorted(lecture_ids)))
            .where(LectureService(self.session).visible_clause(user))
        )
        timelines = []
        for lecture_id, minutes, start, status, duration, ladder in self.session.execute(query):
            length_s = lecture_length_s(minutes, duration if ladder is not None else None)
            since = live_since(start, LectureStatus(status) not in NEVER_LIVE)
            timelines.append(LectureTimeline(lecture_id, length_s, since))
        return timelines

    def _locked_sessions(
        self, user: User, heartbeats: list[HeartbeatIn], now: datetime
    ) -> dict[str, dict[str, Any]]:
        """session id → its row, created if new (with the lecture of its first heartbeat)
        and locked for this transaction."""
        first: dict[str, HeartbeatIn] = {}
        for heartbeat in sorted(heartbeats, key=lambda hb: hb.seq):
            first.setdefault(heartbeat.session_id, heartbeat)
        new_rows: list[dict[str, Any]] = [
            {"user_id": user.id, "session_id": hb.session_id, "lecture_id": hb.lecture_id,
             "clinic_id": user.clinic_id, "live_intervals": [], "vod_intervals": [],
             "head_count": hb.head_count, "mode": hb.mode.value, "rendition": hb.rendition,
             "last_seq": -1, "stalls": 0, "stalled_s": 0.0, "rendition_seconds": {},
             "first_seen_at": now, "last_seen_at": now}
            for hb in first.values()
        ]  # fmt: skip
        # One statement creates the new sessions and returns every session of the batch,
        # locked: ON CONFLICT DO UPDATE locks the existing row on PostgreSQL (and returns its
        # latest version), and on SQLite, being a write, takes the database's write lock
        # before anything is read. Sorted, so batches lock sessions in the same order.
        statement = statements(self.dialect)[0]
        rows = sorted(new_rows, key=lambda row: str(row["session_id"]))
        found = self.session.execute(statement, rows)
        return {row.session_id: dict(row._mapping) for row in found}

    def _append(
        self, user: User, heartbeats: list[HeartbeatIn], now: datetime
    ) -> list[HeartbeatIn]:
        """Insert the heartbeats not stored yet; the ones inserted."""
        if not heartbeats:
            return []
        rows = [
            {"user_id": user.id, "session_id": hb.session_id, "seq": hb.seq,
             "lecture_id": hb.lecture_id, "clinic_id": user.clinic_id, "mode": hb.mode.value,
             "start_s": hb.start_s, "end_s": hb.end_s, "playing": hb.playing,
             "rendition": hb.rendition, "stalls": hb.stalls, "stalled_s": hb.stalled_s,
             "head_count": hb.head_count, "sent_at": hb.sent_at, "received_at": now}
            for hb in heartbeats
        ]  # fmt: skip
        # executemany: SQLAlchemy sends it as one multi-row INSERT (its "insertmanyvalues"),
        # compiled once and cached, where .values(rows) would be compiled per batch.
        statement = statements(self.dialect)[1]
        stored = {(row.session_id, row.seq) for row in self.session.execute(statement, rows)}
        return [hb for hb in heartbeats if (hb.session_id, hb.seq) in stored]

    def _update_sessions(
        self, sessions: dict[str, dict[str, Any]], inserted: list[HeartbeatIn], now: datetime
    ) -> None:
        """Fold the newly stored heartbeats into their sessions: one executemany UPDATE."""
        by_session: dict[str, list[HeartbeatIn]] = defaultdict(list)
        for heartbeat in inserted:
            by_session[heartbeat.session_id].append(heartbeat)
        changes = [
            {"b_id": sessions[session_id]["id"], **folded(sessions[session_id], heartbeats, now)}
            for session_id, heartbeats in by_session.items()
        ]
        if not changes:
            return
        statement = (
            update(SESSIONS)
            .where(SESSIONS.c.id == bindparam("b_id"))
            .values({name: bindparam(name) for name in changes[0] if name != "b_id"})
        )
        self.session.execute(statement, changes)
