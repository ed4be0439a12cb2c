"""Search: what was said, where. The page (``/search``) and the API (``/api/v1/search``) find the
lectures the user may see by title, keywords and transcript, each hit a link into the player at
its second."""

from __future__ import annotations

import math
from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.response import Template
from pydantic import BaseModel

from training.accounts.models import User
from training.search.services import LectureResult, SearchService
from web.deps import DbSession, SignedInUser
from web.errors import SIGN_IN_FIRST

SEARCH_LIMIT = 20
QUERY_MAX = 200


class SearchHitOut(BaseModel):
    segment_id: int
    start: float
    end: float
    snippet_html: str
    url: str


class LectureHitsOut(BaseModel):
    lecture_id: int
    title: str
    title_html: str
    description_html: str
    hit_count: int
    moments: list[float]
    hits: list[SearchHitOut]
    url: str


class SearchOut(BaseModel):
    query: str
    total: int
    lectures: list[LectureHitsOut]


def watch_url(request: Request[Any, Any, Any], lecture_id: int, start: float | None = None) -> str:
    """The player's URL, at ``start`` (whole seconds) when given."""
    url = request.app.route_reverse("watch", lecture_id=lecture_id)
    return f"{url}?t={math.floor(start)}" if start is not None else url


def lecture_hits_out(request: Request[Any, Any, Any], lecture: LectureResult) -> LectureHitsOut:
    hits = [
        SearchHitOut(
            segment_id=hit.segment_id,
            start=hit.start,
            end=hit.end,
            snippet_html=hit.snippet_html,
            url=watch_url(request, lecture.lecture_id, hit.start),
        )
        for hit in lecture.hits
    ]
    return LectureHitsOut(
        lecture_id=lecture.lecture_id,
        title=lecture.title,
        title_html=lecture.title_html,
        description_html=lecture.description_html,
        hit_count=lecture.hit_count,
        moments=lecture.moments,
        hits=hits,
        url=watch_url(request, lecture.lecture_id),
    )


def run_search(
    request: Request[Any, Any, Any], session: DbSession, user: User, query: str
) -> SearchOut:
    results = SearchService(session).search(user, query[:QUERY_MAX], limit=SEARCH_LIMIT)
    return SearchOut(
        query=results.query,
        total=results.total,
        lectures=[lecture_hits_out(request, lecture) for lecture in results.lectures],
    )


class SearchController(Controller):
    @get("/search", name="search", sync_to_thread=True, exception_handlers=SIGN_IN_FIRST)
    def search_page(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        user: SignedInUser,
        q: FromQuery[str] = "",
    ) -> Template:
        """Lectures that match, each moment a link into the player."""
        results = run_search(request, session, user, q) if q.strip() else None
        return Template("search/results.html", context={"user": user, "q": q, "results": results})

    @get("/api/v1/search", sync_to_thread=True, tags=["search"])
    def search_api(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        user: SignedInUser,
        q: FromQuery[str] = "",
    ) -> SearchOut:
        """Search the lectures the signed-in user may see (titles, keywords, transcripts)."""
        return run_search(request, session, user, q)
