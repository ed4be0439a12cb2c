"""Heartbeats from the player (``POST /api/v1/attendance/heartbeats``): a batch of up to 500,
each checked on its own, so one bad heartbeat never drops the others. Signed-in session and the
``x-csrftoken`` header, as every unsafe /api/v1 request (``fetch(…, {keepalive: true})`` can
send it on page hide; ``sendBeacon`` cannot set headers)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import JSONBody

from training.attendance.rules import MAX_BATCH
from training.attendance.services import AttendanceIngest, IngestResult
from web.auth import current_user
from web.deps import AppServices


class HeartbeatBatch(msgspec.Struct):
    """The player's heartbeats; the fields of each are checked one by one by the domain (see
    docs/architecture.md, "Attendance"): a wrong one is rejected with its index. msgspec, not
    pydantic: this is the portal's most frequent request, and msgspec decodes it directly."""

    heartbeats: Annotated[
        list[Any],
        msgspec.Meta(
            max_length=MAX_BATCH,
            description="session_id, seq, lecture_id, mode (live|vod), start, end, playing, "
            "rendition, stalls, stalled, head_count, sent_at",
        ),
    ]


class RejectedOut(msgspec.Struct):
    index: int
    code: Annotated[
        str, msgspec.Meta(description="not_in_audience | beyond_length | in_the_future | invalid")
    ]
    message: str


class HeartbeatsReceived(msgspec.Struct):
    accepted: int
    duplicates: Annotated[
        int, msgspec.Meta(description="heartbeats already stored: counted once, not errors")
    ]
    rejected: list[RejectedOut]

    @classmethod
    def of(cls, result: IngestResult) -> HeartbeatsReceived:
        rejected = [RejectedOut(r.index, r.code.value, r.message) for r in result.rejected]
        return cls(result.accepted, result.duplicates, rejected)


class AttendanceApi(Controller):
    path = "/api/v1/attendance"
    tags = ["attendance"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/heartbeats", status_code=200, sync_to_thread=True)
    def heartbeats(
        self,
        request: Request[Any, Any, Any],
        services: AppServices,
        data: JSONBody[HeartbeatBatch],
    ) -> HeartbeatsReceived:
        """Record a batch of heartbeats; a repeated heartbeat counts once."""
        # The portal's hottest request: the user (already found by the locale hook) and the
        # session in this one worker thread, not in dependencies that each hop threads.
        user = current_user(request, services)
        if user is None:
            raise NotAuthorizedException("sign in first")
        with services.sessions() as session:
            result = AttendanceIngest(session).ingest(user, data.heartbeats)  # commits
        return HeartbeatsReceived.of(result)
