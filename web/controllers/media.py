"""Private media delivery: the master playlist (session + the watch rule), signed variant
playlists and signed media objects, the download link, and the URLs the player needs
(``GET /api/v1/lectures/{id}/media``). See ``web.media_urls``.

A signature alone admits a segment (cheap: no database). Playlists, captions, thumbnail track,
poster and download are the gate: each fetch also rechecks that the URL's user is still active
and may still watch the lecture (``LectureService.still_watchable``), so a deactivated doctor's
copied playlist URL, or one for a lecture cancelled since, stops working at once."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Stream
from pydantic import BaseModel

from infra.http import content_disposition
from training.accounts.models import User
from training.errors import NotFoundError
from training.lectures.services import LectureService
from training.media.models import MediaAsset
from training.media.services import MediaService
from web.deps import AppServices, DbSession, SignedInUser
from web.media_urls import CAPTIONS_PATH, MediaLinks, MediaSigner
from web.state import Services

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
CONTENT_TYPES = {
    ".m3u8": PLAYLIST_TYPE,
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".vtt": "text/vtt; charset=utf-8",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}
NO_STORE = {"Cache-Control": "no-store"}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_signers: dict[tuple[str, str | None, int], MediaSigner] = {}


def signer_for(services: Services) -> MediaSigner:
    """The portal's media signer, made once per key and lifetime (the generated secret key
    lives in a file in the data directory: read it once, not on every segment)."""
    settings = services.settings
    configured = settings.web.secret_key
    lifetime = settings.media.url_lifetime_seconds
    secret = configured.get_secret_value() if configured is not None else None
    cache_key = (str(settings.data_dir), secret, lifetime)
    signer = _signers.get(cache_key)
    if signer is None:
        signer = _signers[cache_key] = MediaSigner(settings.secret_key(), lifetime)
    return signer


def links_for(services: Services, asset: MediaAsset, user_id: int) -> MediaLinks:
    return MediaLinks(
        signer_for(services),
        services.blobs,
        asset,
        user_id,
        direct=services.settings.direct_media_delivery,
    )


def ready_asset(services: Services, session: DbSession, lecture_id: int) -> MediaAsset:
    """The lecture's media once its ladder is switched in; NotFoundError before."""
    asset = MediaService(session, services.blobs).asset(lecture_id)
    if asset is None or asset.hls_prefix is None or asset.master is None:
        raise NotFoundError(f"lecture {lecture_id} has no playable recording yet")
    return asset


def audience_links(
    services: Services, session: DbSession, user: User, lecture_id: int
) -> MediaLinks:
    """``user``'s media links, once they may watch the lecture (``rules.may_watch``)."""
    LectureService(session).watchable_for(user, lecture_id)
    return links_for(services, ready_asset(services, session, lecture_id), user.id or 0)


class PlayerMedia(BaseModel):
    """What the player loads: every URL is signed and short-lived but ``master``."""

    master: str
    audio: str | None
    captions: str | None
    poster: str | None
    thumbnails: str | None
    download: str | None
    expires_in: int


def player_media(request: Request[Any, Any, Any], links: MediaLinks) -> PlayerMedia:
    asset = links.asset
    route = request.app.route_reverse
    audio = next(
        (str(r["uri"]) for r in asset.renditions if r.get("audio_only") and r.get("uri")), None
    )
    return PlayerMedia(
        master=route("master_playlist", lecture_id=asset.lecture_id),
        audio=links.portal(audio, extra=links.duration) if audio else None,
        # Same origin, whatever the delivery: a <track> from another origin needs CORS.
        captions=links.portal(CAPTIONS_PATH) if asset.captions_key else None,
        poster=links.optional(asset.poster),
        thumbnails=links.portal(asset.thumbnails) if asset.thumbnails else None,
        download=route("download", lecture_id=asset.lecture_id) if asset.download else None,
        expires_in=links.signer.lifetime,
    )


class MediaController(Controller):
    @get("/lectures/{lecture_id:int}/hls/master.m3u8", name="master_playlist", sync_to_thread=True)
    def master_playlist(
        self,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
    ) -> Response[str]:
        """The master playlist, its variants signed for the signed-in user."""
        links = audience_links(services, session, user, lecture_id)
        return Response(links.master_playlist(), media_type=PLAYLIST_TYPE, headers=NO_STORE)

    @get("/lectures/{lecture_id:int}/download", name="download", sync_to_thread=True)
    def download(
        self,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
    ) -> Redirect:
        """The smallest rendition as one MP4: a redirect to a freshly signed URL, so the link on
        the page never expires."""
        links = audience_links(services, session, user, lecture_id)
        if links.asset.download is None:
            raise NotFoundError(f"lecture {lecture_id} has no download")
        url = links.media(links.asset.download, download_name=links.download_name())
        return Redirect(url, status_code=303, headers=NO_STORE)

    @get(
        "/api/v1/lectures/{lecture_id:int}/media",
        name="media_links",
        sync_to_thread=True,
        tags=["media"],
    )
    def media_links(
        self,
        request: Request[Any, Any, Any],
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
    ) -> Response[PlayerMedia]:
        """Fresh signed URLs of the lecture's media (the player asks again when they expire)."""
        links = audience_links(services, session, user, lecture_id)
        return Response(player_media(request, links), headers=NO_STORE)

    @get("/media/{lecture_id:int}/{path:path}", sync_to_thread=True, include_in_schema=False)
    def media_object(
        self,
        request: Request[Any, Any, Any],
        services: AppServices,
        session: DbSession,
        *,
        lecture_id: FromPath[int],
        path: FromPath[str],
        u: FromQuery[str] = "",
        exp: FromQuery[str] = "",
        sig: FromQuery[str] = "",
    ) -> Response[Any]:
        """One signed media object; no sign-in needed (the signature is the authorisation)."""
        path = path.lstrip("/")
        if not signer_for(services).verify(lecture_id, path, u, exp, sig):
            raise PermissionDeniedException("this media link is invalid or has expired")
        asset = ready_asset(services, session, lecture_id)
        if is_gate(asset, path) and not LectureService(session).still_watchable(int(u), lecture_id):
            raise PermissionDeniedException("this media link is no longer valid for its user")
        links = links_for(services, asset, int(u))
        try:
            return serve_path(services, links, path, request.headers.get("range"))
        except FileNotFoundError:
            raise NotFoundException(f"no media object {path}") from None


def is_gate(asset: MediaAsset, path: str) -> bool:
    """Whether fetching ``path`` rechecks its user (everything but segments and sprites: the
    files a player fetches once per viewing, not every few seconds)."""
    once = {CAPTIONS_PATH, asset.thumbnails, asset.download, asset.poster}
    return path.endswith(".m3u8") or path in once


def serve_path(
    services: Services, links: MediaLinks, path: str, range_header: str | None
) -> Response[Any]:
    """A playlist rewritten with signed URLs, or an object's bytes."""
    asset = links.asset
    if path.endswith(".m3u8"):
        return Response(links.variant_playlist(path), media_type=PLAYLIST_TYPE, headers=NO_STORE)
    if path == asset.thumbnails:
        vtt = CONTENT_TYPES[".vtt"]
        return Response(links.thumbnail_track(), media_type=vtt, headers=NO_STORE)
    # Segments never change under a URL: the browser may keep them (never a shared cache).
    headers = {"Cache-Control": f"private, max-age={links.signer.lifetime}"}
    if path == asset.download:
        headers["Content-Disposition"] = content_disposition(links.download_name())
    return stream_object(services, links.key(path), range_header, headers)


def stream_object(
    services: Services, key: str, range_header: str | None, headers: dict[str, str]
) -> Response[Any]:
    """The object's bytes from the store, whole (200) or one byte range (206, or 416)."""
    size = services.blobs.stat(key).size  # FileNotFoundError (404) before any byte is sent
    media_type = CONTENT_TYPES.get(posixpath.splitext(key)[1].lower(), "application/octet-stream")
    headers = {**headers, "Accept-Ranges": "bytes"}
    if range_header and _RANGE.fullmatch(_first_range(range_header)) is None:
        range_header = None  # not a byte range we understand: the whole object (RFC 9110)
    wanted = byte_range(range_header, size) if range_header else (0, size - 1)
    if wanted is None:
        return Response(
            b"", status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"}
        )
    start, end = wanted
    headers["Content-Length"] = str(end - start + 1)
    status = 200
    if range_header:
        status, headers["Content-Range"] = 206, f"bytes {start}-{end}/{size}"
    body: Iterator[bytes] = (
        services.blobs.read_stream(key, start=start, end=end) if size else iter(())
    )
    return Stream(body, status_code=status, media_type=media_type, headers=headers)


def _first_range(header: str) -> str:
    return header.strip().split(",", 1)[0].strip()


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a ``bytes=`` range; None if it cannot be satisfied. Of several
    ranges only the first is answered (players ask for one)."""
    match = _RANGE.fullmatch(_first_range(header))
    if match is None or size == 0:
        return None
    first, last = match.groups()
    if not first:  # the last N bytes
        if not last or int(last) == 0:
            return None
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end else None
