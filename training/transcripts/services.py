"""Storing transcripts and correcting them; the search index follows every change."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import delete, insert
from sqlmodel import Session, col, select

from training.accounts.models import User
from training.base import utcnow
from training.errors import NotFoundError, PermissionDeniedError, ValidationError
from training.lectures.models import Lecture
from training.lectures.rules import may_manage
from training.lectures.services import LectureService
from training.ports import SpeechSegment, Transcription
from training.transcripts.models import Transcript, TranscriptSegment

MAX_SEGMENT_TEXT = 2_000  # characters; a Whisper segment is a sentence or two


class TranscriptIndex(Protocol):
    """Where transcripts become searchable (``training.search.services.SearchService``). A
    port, not an import: search builds on transcripts, so transcripts must not import search."""

    def index_metadata(self, lecture: Lecture) -> None: ...

    def index_segments(self, lecture_id: int, segments: Iterable[TranscriptSegment]) -> None: ...

    def reindex_segment(self, segment: TranscriptSegment) -> None: ...

    def reindex_lecture(self, lecture_id: int) -> None: ...


class TranscriptService:
    """Transcripts through one session. ``index`` is needed to change them (the search index
    follows every change, in the same transaction); reading works without it."""

    def __init__(self, session: Session, index: TranscriptIndex | None = None) -> None:
        self.session = session
        self.lectures = LectureService(session)
        self._index = index

    @property
    def search(self) -> TranscriptIndex:
        if self._index is None:
            raise RuntimeError("changing a transcript needs TranscriptService(session, index)")
        return self._index

    def store(
        self, lecture: Lecture, transcription: Transcription, *, model: str = ""
    ) -> Transcript:
        """Make ``transcription`` the lecture's transcript, replacing any earlier one, and index
        it. Safe to run twice: the second run leaves the same rows. A segment a specialist
        corrected keeps its correction when the new segment at its place has the same times
        (a re-run of the same transcription), and loses it otherwise."""
        assert lecture.id is not None
        transcript = self.get(lecture.id)
        if transcript is None:
            transcript = Transcript(lecture_id=lecture.id, language="", duration=0.0)
        transcript.language = transcription.language
        transcript.duration = max(0.0, transcription.duration)
        transcript.model = model
        transcript.updated_at = utcnow()
        self.session.add(transcript)
        self.session.flush()
        assert transcript.id is not None
        corrections = self._corrections(transcript.id)
        self.search.index_segments(lecture.id, [])  # before the segments their rows point at
        self.session.exec(
            delete(TranscriptSegment).where(col(TranscriptSegment.transcript_id) == transcript.id)
        )
        rows = [
            _segment_row(transcript, position, segment, corrections.get(position))
            for position, segment in enumerate(transcription.segments)
        ]
        if rows:
            self.session.exec(insert(TranscriptSegment), params=rows)
        self.search.index_metadata(lecture)
        self.search.index_segments(lecture.id, self.segments(lecture.id))
        return transcript

    def get(self, lecture_id: int) -> Transcript | None:
        """The lecture's transcript, or None before speech-to-text has run."""
        query = select(Transcript).where(Transcript.lecture_id == lecture_id)
        return self.session.exec(query).first()

    def segments(self, lecture_id: int) -> list[TranscriptSegment]:
        """The lecture's transcript segments in order (none before speech-to-text has run).
        Callers acting for a user use ``segments_for``, which checks that the user may watch
        the lecture."""
        query = (
            select(TranscriptSegment)
            .where(TranscriptSegment.lecture_id == lecture_id)
            .order_by(col(TranscriptSegment.position))
        )
        return list(self.session.exec(query))

    def segments_for(self, user: User, lecture_id: int) -> list[TranscriptSegment]:
        """The lecture's transcript for ``user``: only while they may watch the lecture
        (``LectureService.watchable_for`` raises otherwise)."""
        self.lectures.watchable_for(user, lecture_id)
        return self.segments(lecture_id)

    def transcription(self, lecture_id: int) -> Transcription | None:
        """The stored transcript, corrections included, as captions and JSON are made from."""
        transcript = self.get(lecture_id)
        if transcript is None:
            return None
        segments = [SpeechSegment(s.start, s.end, s.text) for s in self.segments(lecture_id)]
        return Transcription(transcript.language, transcript.duration, segments)

    def correct_segment(self, user: User, segment_id: int, text: str) -> TranscriptSegment:
        """Replace a segment's text with ``user``'s correction and re-index it. Only the
        lecture's specialist and admins may correct."""
        segment = self.session.get(TranscriptSegment, segment_id)
        if segment is None:
            raise NotFoundError(f"no transcript segment with id {segment_id}")
        lecture = self.lectures.get(segment.lecture_id)
        if not may_manage(user, lecture):
            raise PermissionDeniedError(
                f"only the lecture's specialist or an admin corrects its transcript, "
                f"not {user.username}"
            )
        text = text.strip()
        if not text:
            raise ValidationError("a corrected segment needs some text")
        if len(text) > MAX_SEGMENT_TEXT:
            raise ValidationError(f"a segment holds at most {MAX_SEGMENT_TEXT} characters")
        segment.text = text
        segment.edited = True
        self.session.add(segment)
        transcript = self.session.get(Transcript, segment.transcript_id)
        if transcript is not None:
            transcript.updated_at = utcnow()
            self.session.add(transcript)
        self.session.flush()
        self.search.reindex_segment(segment)
        return segment

    def reindex_lecture(self, lecture_id: int) -> None:
        """Index the lecture's title, keywords, description and transcript anew (call it after
        the lecture's metadata changed)."""
        self.search.reindex_lecture(lecture_id)

    def _corrections(self, transcript_id: int) -> dict[int, SpeechSegment]:
        """The corrected segments by position, copied out before their rows are replaced."""
        query = select(TranscriptSegment).where(
            TranscriptSegment.transcript_id == transcript_id, col(TranscriptSegment.edited)
        )
        return {s.position: SpeechSegment(s.start, s.end, s.text) for s in self.session.exec(query)}


def _segment_row(
    transcript: Transcript, position: int, segment: SpeechSegment, corrected: SpeechSegment | None
) -> dict[str, object]:
    start = max(0.0, segment.start)
    end = max(start, segment.end)
    kept = corrected is not None and (corrected.start, corrected.end) == (start, end)
    return {
        "transcript_id": transcript.id,
        "lecture_id": transcript.lecture_id,
        "position": position,
        "start": start,
        "end": end,
        "text": corrected.text if corrected is not None and kept else segment.text.strip(),
        "edited": kept,
    }
