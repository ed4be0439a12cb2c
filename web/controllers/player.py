"""The player page, the transcript API (read and correct) and search (page and API)."""

from __future__ import annotations

import math
from typing import Any

from litestar import Controller, Request, get, patch
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from pydantic import BaseModel, Field

from training.accounts.models import Role, User
from training.clinics.services import ClinicService
from training.errors import NotFoundError
from training.lectures.services import LectureService
from training.media.services import MediaService
from training.search.services import SearchResults, SearchService
from training.transcripts.models import TranscriptSegment
from training.transcripts.services import TranscriptService
from web.auth import current_user, require_user
from web.controllers.media import links_for, player_media, ready_asset
from web.state import Services

START_BUDGET = 0.8  # share of a clinic's declared bandwidth the first rung may use
SEARCH_LIMIT = 20


def start_rendition(renditions: list[dict[str, Any]], bandwidth_kbps: int | None) -> str:
    """Where playback starts for a clinic with this declared bandwidth: the height of the
    highest video rung whose BANDWIDTH fits in 80 % of it, else ``"audio"`` when even the
    lowest rung exceeds the whole link (and an audio-only rendition exists), else the lowest
    rung. ``""`` (the player decides) when the bandwidth is unknown or there is no video."""
    video = sorted(
        (r for r in renditions if not r.get("audio_only") and r.get("height")),
        key=lambda r: int(r.get("bandwidth") or 0),
    )
    has_audio = any(r.get("audio_only") for r in renditions)
    if not bandwidth_kbps or not video:
        return "audio" if has_audio and not video else ""
    link = bandwidth_kbps * 1000
    fitting = [r for r in video if int(r.get("bandwidth") or 0) <= START_BUDGET * link]
    if fitting:
        return str(fitting[-1]["height"])
    if has_audio and int(video[0].get("bandwidth") or 0) > link:
        return "audio"
    return str(video[0]["height"])


def quality_choices(renditions: list[dict[str, Any]]) -> list[int]:
    """The heights of the video rungs, highest first."""
    return sorted(
        {int(r["height"]) for r in renditions if not r.get("audio_only") and r.get("height")},
        reverse=True,
    )


def parse_start(value: str) -> float:
    """``?t=`` as seconds (``90``, ``90.5``); anything else is the start."""
    try:
        seconds = float(value)
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


class SegmentOut(BaseModel):
    id: int
    start: float
    end: float
    text: str
    edited: bool


class SegmentCorrection(BaseModel):
    text: str = Field(min_length=1, max_length=2_000)


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


def watch_url(lecture_id: int, start: float | None = None) -> str:
    url = f"/lectures/{lecture_id}/watch"
    return f"{url}?t={math.floor(start)}" if start is not None else url


def segment_out(segment: TranscriptSegment) -> SegmentOut:
    return SegmentOut(
        id=segment.id or 0,
        start=segment.start,
        end=segment.end,
        text=segment.text,
        edited=segment.edited,
    )


def search_out(results: SearchResults) -> SearchOut:
    return SearchOut(
        query=results.query,
        total=results.total,
        lectures=[
            LectureHitsOut(
                lecture_id=lecture.lecture_id,
                title=lecture.title,
                title_html=lecture.title_html,
                description_html=lecture.description_html,
                hit_count=lecture.hit_count,
                moments=lecture.moments,
                hits=[
                    SearchHitOut(
                        segment_id=hit.segment_id,
                        start=hit.start,
                        end=hit.end,
                        snippet_html=hit.snippet_html,
                        url=watch_url(lecture.lecture_id, hit.start),
                    )
                    for hit in lecture.hits
                ],
                url=watch_url(lecture.lecture_id),
            )
            for lecture in results.lectures
        ],
    )


def run_search(services: Services, user: User, query: str) -> SearchOut:
    with services.sessions() as session:
        return search_out(SearchService(session).search(user, query[:200], limit=SEARCH_LIMIT))


class PlayerController(Controller):
    @get("/lectures/{lecture_id:int}/watch", name="watch", sync_to_thread=True)
    def watch(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        lecture_id: FromPath[int],
        t: FromQuery[str] = "",
    ) -> Template | Redirect:
        """The player: HLS with a quality menu, captions, the transcript, speed, download."""
        user = current_user(request, services)
        if user is None:
            return Redirect("/login", status_code=303)
        with services.sessions() as session:
            lecture = LectureService(session).get_for(user, lecture_id)
            segments = [segment_out(s) for s in TranscriptService(session).segments(lecture_id)]
            clinic = ClinicService(session).get(user.clinic_id) if user.clinic_id else None
            session.expunge(lecture)
        context: dict[str, Any] = {
            "user": user,
            "lecture": lecture,
            "segments": segments,
            "start": parse_start(t),
            "can_edit": user.role is Role.ADMIN or user.id == lecture.specialist_id,
            "media": None,
        }
        try:
            links = links_for(services, ready_asset(services, lecture_id), user.id or 0)
        except NotFoundError:
            return Template("player/watch.html", context=context)
        renditions = links.asset.renditions
        context |= {
            "media": player_media(links),
            "qualities": quality_choices(renditions),
            "has_audio_only": any(r.get("audio_only") for r in renditions),
            "start_rendition": start_rendition(
                renditions, clinic.bandwidth_kbps if clinic else None
            ),
        }
        return Template("player/watch.html", context=context)

    @get("/api/v1/lectures/{lecture_id:int}/transcript", sync_to_thread=True, tags=["transcripts"])
    def transcript(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        lecture_id: FromPath[int],
    ) -> list[SegmentOut]:
        """The lecture's transcript segments in order (empty before speech-to-text has run)."""
        user = require_user(request, services)
        with services.sessions() as session:
            LectureService(session).get_for(user, lecture_id)
            return [segment_out(s) for s in TranscriptService(session).segments(lecture_id)]

    @patch(
        "/api/v1/lectures/{lecture_id:int}/transcript/segments/{segment_id:int}",
        sync_to_thread=True,
        tags=["transcripts"],
    )
    def correct_segment(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        lecture_id: FromPath[int],
        segment_id: FromPath[int],
        data: JSONBody[SegmentCorrection],
    ) -> SegmentOut:
        """Correct one segment's text (the lecture's specialist or an admin; CSRF header)."""
        user = require_user(request, services)
        with services.sessions() as session:
            LectureService(session).get_for(user, lecture_id)
            segment = TranscriptService(session).correct_segment(user, segment_id, data.text)
            if segment.lecture_id != lecture_id:
                session.rollback()
                raise NotFoundError(f"lecture {lecture_id} has no segment {segment_id}")
            result = segment_out(segment)
            session.commit()
            MediaService(session, services.blobs).refresh_captions(lecture_id)
            return result

    @get("/search", name="search", sync_to_thread=True)
    def search_page(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        q: FromQuery[str] = "",
    ) -> Template | Redirect:
        """What was said, where: lectures that match, each moment a link into the player."""
        user = current_user(request, services)
        if user is None:
            return Redirect("/login", status_code=303)
        results = run_search(services, user, q) if q.strip() else None
        return Template("search/results.html", context={"user": user, "q": q, "results": results})

    @get("/api/v1/search", sync_to_thread=True, tags=["search"])
    def search_api(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        q: FromQuery[str] = "",
    ) -> SearchOut:
        """Search the lectures the signed-in user may see (titles, keywords, transcripts)."""
        user = require_user(request, services)
        return run_search(services, user, q)
