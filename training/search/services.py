"""Keeping the search index in step with lectures and transcripts, and searching it.

Lectures are found and ranked on their per-lecture rows (title, keywords, description and
whole transcript), so the cost of a query grows with the number of lectures that match, not
with how many times a common word was said in them. A lecture's score is the sum of its
fields' relevance (BM25 on SQLite, cover density per token on PostgreSQL: both grow with how
densely the words occur in the text), the title counting most; ``backends`` has how each
database finds and scores the rows. Only lectures the user may watch take part (in the audience,
not cancelled, playable: ``LectureService.watchable_clause``): the rule is part of the SQL, so a
page is never cut before filtering. Then, for the lectures of the page
only, the matching segments give the moments to jump to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, Row, bindparam, case, delete, func, insert, over, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from training.accounts.models import User
from training.lectures.models import Lecture, LectureStatus
from training.lectures.services import LectureService
from training.search.backends import matching_segments, scored_documents
from training.search.models import DocumentField, SearchDocument, SearchSegment
from training.search.tokenize import as_document, highlight, index_tokens, query_tokens
from training.transcripts.models import TranscriptSegment
from training.transcripts.services import TranscriptService

FIELD_WEIGHTS = {
    DocumentField.TITLE: 4.0,
    DocumentField.KEYWORDS: 3.0,
    DocumentField.DESCRIPTION: 2.0,
    DocumentField.TRANSCRIPT: 1.0,
}
MAX_MOMENTS = 200  # hit timestamps returned per lecture
SNIPPET_WIDTH = 120  # characters of a description shown around its first hit
_METADATA_FIELDS = (DocumentField.TITLE, DocumentField.KEYWORDS, DocumentField.DESCRIPTION)


@dataclass(frozen=True)
class SearchHit:
    """One transcript segment that matches: where to jump (``start``) and what was said."""

    segment_id: int
    start: float
    end: float
    snippet_html: str  # the segment's text, HTML-escaped, hits in <mark>


@dataclass(frozen=True)
class LectureResult:
    """One lecture that matches, with the moments in it where the query was said."""

    lecture_id: int
    title: str
    title_html: str  # escaped, hits in <mark>
    description_html: str  # a snippet around the first hit, or "" if the description missed
    score: float
    hit_count: int  # transcript segments that match
    moments: list[float]  # start seconds of matching segments, in time order (≤ MAX_MOMENTS)
    hits: list[SearchHit]  # the first few matching segments, in time order, with snippets


@dataclass(frozen=True)
class SearchResults:
    query: str
    tokens: list[str]  # what the query was understood as (after segmentation and stemming)
    total: int  # lectures that match, over all pages
    lectures: list[LectureResult] = field(default_factory=list)


class SearchService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.lectures = LectureService(session)

    # -- keeping the index in step ------------------------------------------------------------

    def reindex_lecture(self, lecture_id: int) -> None:
        """Index the lecture's title, keywords, description and transcript anew (after any of
        them changed). Idempotent."""
        self.index_metadata(self.lectures.get(lecture_id))
        self.index_segments(lecture_id, TranscriptService(self.session).segments(lecture_id))

    def index_metadata(self, lecture: Lecture) -> None:
        """Replace the index rows of the lecture's title, keywords and description."""
        assert lecture.id is not None
        texts = {
            DocumentField.TITLE: lecture.title,
            DocumentField.KEYWORDS: lecture.keywords,
            DocumentField.DESCRIPTION: lecture.description,
        }
        self._replace_documents(
            lecture.id, {name: index_tokens(text) for name, text in texts.items()}
        )

    def index_segments(self, lecture_id: int, segments: Iterable[TranscriptSegment]) -> None:
        """Replace the index rows of the lecture's transcript with ``segments`` (in id order,
        which is the order they were stored in)."""
        self.session.exec(delete(SearchSegment).where(col(SearchSegment.lecture_id) == lecture_id))
        rows = [
            {
                "segment_id": segment.id,
                "lecture_id": lecture_id,
                "start": segment.start,
                "tokens": tokens,
            }
            for segment in sorted(segments, key=lambda segment: segment.id or 0)
            if (tokens := as_document(index_tokens(segment.text)))
        ]
        if rows:
            self.session.exec(insert(SearchSegment), params=rows)
        whole = [str(row["tokens"]) for row in rows]
        self._replace_documents(lecture_id, {DocumentField.TRANSCRIPT: whole})

    def reindex_segment(self, segment: TranscriptSegment) -> None:
        """Index one segment anew after its text changed. Its row is updated in place (the id
        stays, and with it the run of ids of the lecture's segments)."""
        assert segment.id is not None
        tokens = as_document(index_tokens(segment.text))
        this = col(SearchSegment.segment_id) == segment.id
        indexed = self.session.exec(select(SearchSegment.segment_id).where(this)).first()
        if not tokens:
            self.session.exec(delete(SearchSegment).where(this))
        elif indexed is not None:
            self.session.exec(update(SearchSegment).where(this).values(tokens=tokens))
        else:
            row = {"segment_id": segment.id, "lecture_id": segment.lecture_id}
            self.session.exec(
                insert(SearchSegment), params=[{**row, "start": segment.start, "tokens": tokens}]
            )
        query = (
            select(SearchSegment.tokens)
            .where(SearchSegment.lecture_id == segment.lecture_id)
            .order_by(col(SearchSegment.segment_id))
        )
        whole = list(self.session.exec(query))
        self._replace_documents(segment.lecture_id, {DocumentField.TRANSCRIPT: whole})

    def _replace_documents(self, lecture_id: int, fields: dict[DocumentField, list[str]]) -> None:
        self.session.exec(
            delete(SearchDocument).where(
                col(SearchDocument.lecture_id) == lecture_id, col(SearchDocument.field).in_(fields)
            )
        )
        rows = [
            {"lecture_id": lecture_id, "field": name, "tokens": as_document(tokens)}
            for name, tokens in fields.items()
            if tokens
        ]
        if rows:
            self.session.exec(insert(SearchDocument), params=rows)

    # -- searching ----------------------------------------------------------------------------

    def search(
        self, user: User, query: str, *, limit: int = 20, offset: int = 0, hits_per_lecture: int = 5
    ) -> SearchResults:
        """Lectures ``user`` may watch in which one text (the title, the keywords, the
        description or the transcript) holds every word of ``query``, best first; and for each,
        the moments where a segment says all of them."""
        tokens = query_tokens(query)
        if not tokens:
            return SearchResults(query=query, tokens=[], total=0)
        ranked = self._ranked_lectures(user, tokens, limit=limit, offset=offset)
        if not ranked:
            return SearchResults(query=query, tokens=tokens, total=0)
        moments = self._moments(tokens, [row.lecture_id for row in ranked])
        # The first few moments of each lecture get a snippet. (Not the "best" few: on SQLite,
        # scoring segments would make FTS5 count every match of the word in the whole index.)
        shown = {
            i: [segment_id for segment_id, _ in found[:hits_per_lecture]]
            for i, found in moments.items()
        }
        hits = self._hits([segment_id for ids in shown.values() for segment_id in ids], tokens)
        lectures = [
            LectureResult(
                lecture_id=row.lecture_id,
                title=row.title,
                title_html=highlight(row.title, tokens),
                description_html=(
                    highlight(row.description, tokens, width=SNIPPET_WIDTH) if row.described else ""
                ),
                score=float(row.score),
                hit_count=len(moments.get(row.lecture_id, [])),
                moments=[start for _, start in moments.get(row.lecture_id, [])][:MAX_MOMENTS],
                hits=[hits[i] for i in shown.get(row.lecture_id, []) if i in hits],
            )
            for row in ranked
        ]
        return SearchResults(
            query=query, tokens=tokens, total=int(ranked[0].total), lectures=lectures
        )

    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def _ranked_lectures(
        self, user: User, tokens: Sequence[str], *, limit: int, offset: int
    ) -> list[Row[Any]]:
        # The status as a constant in the SQL: PostgreSQL's generic plan for the prepared
        # statement then still knows how few lectures it leaves out, and hashes the audience
        # instead of probing it once per lecture.
        cancelled: BindParameter[LectureStatus] = bindparam(
            "cancelled", LectureStatus.CANCELLED, literal_execute=True
        )
        visible = sa_select(col(Lecture.id)).where(
            self.lectures.watchable_clause(user), col(Lecture.status) != cancelled
        )
        scored = scored_documents(self._dialect(), tokens, visible)
        weight = case(
            *((scored.c.field == name, value) for name, value in FIELD_WEIGHTS.items()),
            else_=0.0,
        )
        described = case((scored.c.field == DocumentField.DESCRIPTION, 1), else_=0)
        per_lecture = (
            sa_select(
                scored.c.lecture_id,
                func.sum(weight * scored.c.score).label("score"),
                func.max(described).label("described"),
            )
            .group_by(scored.c.lecture_id)
            .subquery("per_lecture")
        )
        # The page is cut before the lectures' titles and descriptions are read: a common word
        # matches nearly every lecture, and only the page's need them.
        page = (
            sa_select(per_lecture, over(func.count()).label("total"))
            .order_by(per_lecture.c.score.desc(), per_lecture.c.lecture_id)
            .limit(limit)
            .offset(offset)
            .subquery("page")
        )
        query = (
            sa_select(page, col(Lecture.title), col(Lecture.description))
            .join(Lecture, col(Lecture.id) == page.c.lecture_id)
            .order_by(page.c.score.desc(), page.c.lecture_id)
        )
        return list(self.session.connection().execute(query))

    def _moments(
        self, tokens: Sequence[str], lecture_ids: Sequence[int]
    ) -> dict[int, list[tuple[int, float]]]:
        """(segment id, start) of every matching segment of these lectures (already checked to
        be visible), in time order."""
        query = matching_segments(self._dialect(), tokens, lecture_ids)
        moments: dict[int, list[tuple[int, float]]] = defaultdict(list)
        # Fetched at once: a common word is said thousands of times in a page of lectures, and
        # row-by-row iteration costs more than the query.
        for lecture_id, segment_id, start in self.session.connection().execute(query).all():
            moments[lecture_id].append((segment_id, float(start)))
        return {i: sorted(found, key=lambda moment: moment[1]) for i, found in moments.items()}

    def _hits(self, segment_ids: Sequence[int], tokens: Sequence[str]) -> dict[int, SearchHit]:
        """The segments by id, with their snippets (plain columns: no ORM objects needed)."""
        query = sa_select(
            col(TranscriptSegment.id),
            col(TranscriptSegment.start),
            col(TranscriptSegment.end),
            col(TranscriptSegment.text),
        ).where(col(TranscriptSegment.id).in_(segment_ids))
        return {
            segment_id: SearchHit(segment_id, start, end, highlight(text, tokens))
            for segment_id, start, end, text in self.session.connection().execute(query)
            if segment_id is not None
        }
