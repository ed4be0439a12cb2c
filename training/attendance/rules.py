"""The rules of attendance, pure: what a valid heartbeat is, how long a lecture is, when a
heartbeat lies beyond it or in the future, and when a clinic attended.

The wire format is in docs/architecture.md ("Attendance"); the API passes each heartbeat of a
batch here as the JSON it received, so one bad item is rejected on its own and never drops
the batch.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from training.attendance import intervals
from training.attendance.models import ViewingMode

MAX_BATCH = 500
MAX_HEAD_COUNT = 500
MAX_SEQ = 2**31 - 1
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
RENDITION = re.compile(r"[A-Za-z0-9_.-]{0,16}")
LENGTH_TOLERANCE_S = 10.0
"""How far past the lecture's end an interval may reach: a player's clock and the media's
duration disagree by a frame or a segment, and live broadcasts overrun their slot a little."""
LENGTH_TOLERANCE_SHARE = 0.02
CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of the portal a client's clock may be before its heartbeat counts as made
in the future (village PCs are seldom synchronised)."""


class Rejection(StrEnum):
    """Why one heartbeat of a batch was refused (the API's ``code``)."""

    NOT_IN_AUDIENCE = "not_in_audience"
    BEYOND_LENGTH = "beyond_length"
    IN_THE_FUTURE = "in_the_future"
    INVALID = "invalid"


class RejectedHeartbeat(Exception):
    """One heartbeat refused; ``code`` says why, the message says what, in English."""

    def __init__(self, code: Rejection, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class HeartbeatIn:
    """One heartbeat as the player sent it, checked for shape (not yet against the lecture)."""

    session_id: str
    seq: int
    lecture_id: int
    mode: ViewingMode
    start_s: float
    end_s: float
    playing: bool
    rendition: str
    stalls: int
    stalled_s: float
    head_count: int
    sent_at: datetime | None


def _invalid(message: str) -> RejectedHeartbeat:
    return RejectedHeartbeat(Rejection.INVALID, message)


def _integer(raw: dict[str, Any], name: str, low: int, high: int, default: int | None) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(f"{name} must be a whole number from {low} to {high}")
    return value


def _seconds(raw: dict[str, Any], name: str, default: float | None = None) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{name} must be a number of seconds")
    if not math.isfinite(value) or value < 0:
        raise _invalid(f"{name} must be a finite number of seconds, not negative")
    return round(float(value), 3)


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid("sent_at must be an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid("sent_at must be an ISO 8601 time, e.g. 2026-12-01T12:00:00Z") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_heartbeat(raw: object) -> HeartbeatIn:
    """``raw`` (one item of a batch's JSON) as a heartbeat; RejectedHeartbeat(INVALID) naming
    the first wrong field."""
    if not isinstance(raw, dict):
        raise _invalid("a heartbeat is a JSON object")
    session_id = raw.get("session_id")
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        raise _invalid("session_id must be 8 to 64 characters of A-Z, a-z, 0-9, _ and -")
    mode_text = raw.get("mode")
    if mode_text not in {mode.value for mode in ViewingMode}:
        raise _invalid('mode must be "live" or "vod"')
    mode = ViewingMode(mode_text)
    start_s, end_s = _seconds(raw, "start"), _seconds(raw, "end")
    if end_s < start_s:
        raise _invalid("end must not be before start")
    rendition = raw.get("rendition", "")
    if not isinstance(rendition, str) or not RENDITION.fullmatch(rendition):
        raise _invalid("rendition must be at most 16 letters, digits, '.', '_' or '-'")
    playing = raw.get("playing", True)
    if not isinstance(playing, bool):
        raise _invalid("playing must be true or false")
    return HeartbeatIn(
        session_id=session_id,
        seq=_integer(raw, "seq", 0, MAX_SEQ, None),
        lecture_id=_integer(raw, "lecture_id", 1, MAX_SEQ, None),
        mode=mode,
        start_s=start_s,
        end_s=end_s,
        playing=playing,
        rendition=rendition,
        stalls=_integer(raw, "stalls", 0, 100_000, 0),
        stalled_s=_seconds(raw, "stalled", 0.0),
        head_count=_integer(raw, "head_count", 1, MAX_HEAD_COUNT, 1),
        sent_at=_moment(raw.get("sent_at")),
    )


@dataclass(frozen=True)
class LectureTimeline:
    """What a heartbeat is checked against: the lecture's length and, if it was broadcast,
    when the broadcast began (``None``: never live)."""

    lecture_id: int
    length_s: float
    live_since: datetime | None


def lecture_length_s(duration_minutes: int, media_duration: float | None) -> float:
    """A lecture's length: the recording's duration once its ladder exists, else the
    scheduled duration."""
    if media_duration is not None and media_duration > 0:
        return float(media_duration)
    return duration_minutes * 60.0


def live_since(scheduled_start: datetime | None, was_live_status: bool) -> datetime | None:
    """When a lecture's broadcast began: its scheduled start, once that has passed, for a
    lecture that is or was on air (live, then processed and published); ``None`` for one that
    was never live (a draft, cancelled, or an upload with no scheduled time)."""
    return scheduled_start if scheduled_start is not None and was_live_status else None


def check_against(heartbeat: HeartbeatIn, timeline: LectureTimeline, now: datetime) -> None:
    """RejectedHeartbeat when ``heartbeat`` does not fit the lecture or the clock."""
    if heartbeat.sent_at is not None and heartbeat.sent_at > now + CLOCK_SKEW:
        raise RejectedHeartbeat(Rejection.IN_THE_FUTURE, "sent_at is later than now")
    tolerance = max(LENGTH_TOLERANCE_S, LENGTH_TOLERANCE_SHARE * timeline.length_s)
    if heartbeat.end_s > timeline.length_s + tolerance:
        raise RejectedHeartbeat(
            Rejection.BEYOND_LENGTH,
            f"end {heartbeat.end_s:.1f} s is beyond the lecture's length "
            f"({timeline.length_s:.0f} s)",
        )
    if heartbeat.mode is ViewingMode.LIVE:
        if timeline.live_since is None or timeline.live_since > now + CLOCK_SKEW:
            raise _invalid(f"lecture {timeline.lecture_id} has not been broadcast live")
        on_air = (now - timeline.live_since).total_seconds()
        if heartbeat.end_s > on_air + CLOCK_SKEW.total_seconds():
            raise RejectedHeartbeat(
                Rejection.IN_THE_FUTURE,
                f"end {heartbeat.end_s:.1f} s is later than the broadcast has reached",
            )


def share_of(watched_s: float, length_s: float) -> float:
    """The watched share of a lecture, 0 to 1."""
    return min(1.0, watched_s / length_s) if length_s > 0 else 0.0


def attended(watched_s: float, length_s: float, attendance_share: float) -> bool:
    """A clinic attended when its watched share reaches the lecture's ``attendance_share``
    (a millisecond's rounding does not make a full watch fall short)."""
    return share_of(watched_s, length_s) + 1e-9 >= attendance_share


def folded(row: dict[str, Any], heartbeats: list[HeartbeatIn], now: datetime) -> dict[str, Any]:
    """A session's new aggregate values: ``row`` (its stored ones) with ``heartbeats`` (new,
    in any order) added."""
    live = [(hb.start_s, hb.end_s) for hb in heartbeats if hb.mode is ViewingMode.LIVE]
    vod = [(hb.start_s, hb.end_s) for hb in heartbeats if hb.mode is ViewingMode.VOD]
    rendition_seconds = dict(row["rendition_seconds"])
    for hb in heartbeats:
        if hb.end_s > hb.start_s:
            played = rendition_seconds.get(hb.rendition, 0.0) + hb.end_s - hb.start_s
            rendition_seconds[hb.rendition] = round(played, 3)
    latest = max(heartbeats, key=lambda hb: hb.seq)
    newer = latest.seq > row["last_seq"]
    return {
        "live_intervals": [list(pair) for pair in intervals.add_all(row["live_intervals"], live)],
        "vod_intervals": [list(pair) for pair in intervals.add_all(row["vod_intervals"], vod)],
        "head_count": latest.head_count if newer else row["head_count"],
        "mode": latest.mode.value if newer else row["mode"],
        "rendition": latest.rendition if newer else row["rendition"],
        "last_seq": max(latest.seq, row["last_seq"]),
        "stalls": row["stalls"] + sum(hb.stalls for hb in heartbeats),
        "stalled_s": round(row["stalled_s"] + sum(hb.stalled_s for hb in heartbeats), 3),
        "rendition_seconds": rendition_seconds,
        "last_seen_at": now,
    }
