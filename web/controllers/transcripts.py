"""A lecture's transcript in the JSON API (``/api/v1/lectures/{id}/transcript``): read by its
audience, corrected segment by segment by those who manage the lecture (the captions and the
search index follow)."""

from __future__ import annotations

from litestar import Controller, get, patch
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, Field

from training.errors import NotFoundError
from training.lectures.services import LectureService
from training.media.services import MediaService
from training.search.services import SearchService
from training.transcripts.models import TranscriptSegment
from training.transcripts.services import TranscriptService
from web.deps import AppServices, DbSession, SignedInUser


class SegmentOut(BaseModel):
    id: int
    start: float
    end: float
    text: str
    edited: bool


class SegmentCorrection(BaseModel):
    text: str = Field(min_length=1, max_length=2_000)


def segment_out(segment: TranscriptSegment) -> SegmentOut:
    return SegmentOut(
        id=segment.id or 0,
        start=segment.start,
        end=segment.end,
        text=segment.text,
        edited=segment.edited,
    )


class TranscriptApi(Controller):
    path = "/api/v1/lectures/{lecture_id:int}/transcript"
    tags = ["transcripts"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", name="transcript", sync_to_thread=True)
    def transcript(
        self, session: DbSession, user: SignedInUser, lecture_id: FromPath[int]
    ) -> list[SegmentOut]:
        """The lecture's transcript segments in order (empty before speech-to-text has run);
        404 while the user may not watch the lecture (cancelled, or not playable yet)."""
        segments = TranscriptService(session).segments_for(user, lecture_id)
        return [segment_out(segment) for segment in segments]

    @patch("/segments/{segment_id:int}", sync_to_thread=True)
    def correct_segment(
        self,
        *,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
        segment_id: FromPath[int],
        data: JSONBody[SegmentCorrection],
    ) -> SegmentOut:
        """Correct one segment's text (the lecture's specialist or an admin; CSRF header)."""
        LectureService(session).get_for(user, lecture_id)
        segment = TranscriptService(session, SearchService(session)).correct_segment(
            user, segment_id, data.text
        )
        if segment.lecture_id != lecture_id:  # not committed: closing the session undoes it
            raise NotFoundError(f"lecture {lecture_id} has no segment {segment_id}")
        session.commit()
        MediaService(session, services.blobs).refresh_captions(lecture_id)
        return segment_out(segment)
