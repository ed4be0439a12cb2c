"""The player page: HLS with a quality menu that starts where the clinic's link allows,
captions, the transcript, speed and download."""

from __future__ import annotations

import math
from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from training.clinics.services import ClinicService
from training.errors import NotFoundError
from training.lectures.models import LectureStatus
from training.lectures.rules import NotWatchable, may_manage
from training.lectures.services import LectureService
from training.transcripts.services import TranscriptService
from web.controllers.media import links_for, player_media, ready_asset
from web.controllers.transcripts import segment_out
from web.deps import AppServices, DbSession, SignedInUser
from web.errors import SIGN_IN_FIRST

START_BUDGET = 0.8  # share of a clinic's declared bandwidth the first rung may use


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


def hls_build(renditions: list[dict[str, Any]]) -> str:
    """hls.js's light build (no alternate audio: 101 kB instead of 155 kB on the wire) when
    every video rung carries its own sound; the full build for ladders made with a separate
    audio group (before 2026-12: their renditions have no ``audio_group`` key, or "audio")."""
    video = [r for r in renditions if not r.get("audio_only")]
    muxed = all("audio_group" in r and r["audio_group"] is None for r in video)
    return "vendor/hls.light.min.js" if muxed else "vendor/hls.min.js"


def parse_start(value: str) -> float:
    """``?t=`` as seconds (``90``, ``90.5``); anything else is the start."""
    try:
        seconds = float(value)
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


class PlayerController(Controller):
    exception_handlers = SIGN_IN_FIRST

    @get("/lectures/{lecture_id:int}/watch", name="watch", sync_to_thread=True)
    def watch(
        self,
        *,
        request: Request[Any, Any, Any],
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
        t: FromQuery[str] = "",
    ) -> Template:
        """The player: HLS with a quality menu, captions, the transcript, speed, download. A
        lecture its audience may not watch yet is the page saying so (cancelled: 404)."""
        lectures = LectureService(session)
        try:
            lecture, watchable = lectures.watchable_for(user, lecture_id), True
        except NotWatchable:
            lecture, watchable = lectures.get(lecture_id), False  # in the audience, though
            if lecture.status is LectureStatus.CANCELLED:
                raise
        segments = TranscriptService(session).segments(lecture_id) if watchable else []
        context: dict[str, Any] = {
            "user": user,
            "lecture": lecture,
            "segments": [segment_out(segment) for segment in segments],
            "start": parse_start(t),
            "can_edit": may_manage(user, lecture),
            "media": None,
        }
        if not watchable:
            return Template("player/watch.html", context=context)
        try:
            links = links_for(services, ready_asset(services, session, lecture_id), user.id or 0)
        except NotFoundError:
            return Template("player/watch.html", context=context)
        renditions = links.asset.renditions
        clinic = ClinicService(session).get(user.clinic_id) if user.clinic_id else None
        context |= {
            "media": player_media(request, links),
            "qualities": quality_choices(renditions),
            "has_audio_only": any(r.get("audio_only") for r in renditions),
            "start_rendition": start_rendition(
                renditions, clinic.bandwidth_kbps if clinic else None
            ),
            "bandwidth_kbps": clinic.bandwidth_kbps if clinic else None,
            "hls_build": hls_build(renditions),
        }
        return Template("player/watch.html", context=context)
