"""Signed, short-lived media URLs, and the playlists rewritten to use them.

The bucket is never public. A browser reaches a lecture's media in two steps:

1. the master playlist (``/lectures/{id}/hls/master.m3u8``), authorised by the session and the
   lecture's audience, lists each variant playlist as a *signed* portal URL;
2. each variant playlist, fetched with its signature only (hls.js and ``<video>`` may fetch
   without cookies), lists its init segment and segments as signed URLs: portal URLs
   (``/media/{lecture_id}/{path}?u=…&exp=…&sig=…``, the portal streams the object) in portal
   delivery, or the store's presigned URLs in direct delivery (bytes from S3/a CDN).

A portal signature is HMAC-SHA256, under a key derived from the portal's secret key, over the
lecture id, the path inside the lecture's ladder, the expiry (Unix seconds) and the user id.

Expiry: a URL is valid for ``lifetime`` seconds after the moment it is due to be used at normal
playback speed — a segment 30 minutes into the lecture gets ``lifetime`` + 30 minutes, so that
playback never stalls on an expired signature; a player paused for longer than the lifetime
fetches fresh URLs (``player.js`` does on a 403).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import posixpath
import re
import time
from collections.abc import Callable
from urllib.parse import urlencode

from training.media.models import MediaAsset
from training.ports import BlobStore
from transcoder import extinf_duration

CAPTIONS_PATH = "captions.vtt"
"""The captions' path in media URLs (the captions live outside the ladder's prefix)."""

_SAFE_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*")
_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')
_KEY_PURPOSE = b"clinicast/media-url/v1"


def is_safe_path(path: str) -> bool:
    """A relative path without ``..``, empty or hidden parts: what a ladder holds."""
    return len(path) <= 300 and _SAFE_PATH.fullmatch(path) is not None


class MediaSigner:
    """Signs and checks portal media URLs."""

    def __init__(self, secret: str, lifetime: int, clock: Callable[[], float] = time.time) -> None:
        # A key of its own: a media signature can never be replayed as a session or CSRF token.
        self._key = hmac.new(secret.encode(), _KEY_PURPOSE, hashlib.sha256).digest()
        self.lifetime = lifetime
        self.clock = clock

    def expiry(self, extra: float = 0.0) -> int:
        """Unix time ``lifetime`` (+ ``extra``) seconds from now."""
        return int(self.clock() + self.lifetime + max(0.0, extra))

    def signature(self, lecture_id: int, path: str, user_id: int, expires: int) -> str:
        message = f"{lecture_id}\n{path}\n{expires}\n{user_id}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def url(self, lecture_id: int, path: str, user_id: int, *, extra: float = 0.0) -> str:
        """``/media/{lecture_id}/{path}?u=…&exp=…&sig=…``, valid ``lifetime`` + ``extra`` s."""
        expires = self.expiry(extra)
        query = urlencode(
            {
                "u": user_id,
                "exp": expires,
                "sig": self.signature(lecture_id, path, user_id, expires),
            }
        )
        return f"/media/{lecture_id}/{path}?{query}"

    def verify(self, lecture_id: int, path: str, user: str, expires: str, signature: str) -> bool:
        """True if the signature is ours for exactly these values and has not expired."""
        if not (user.isdigit() and expires.isdigit()) or not is_safe_path(path):
            return False
        expected = self.signature(lecture_id, path, int(user), int(expires))
        valid = hmac.compare_digest(expected.encode(), signature.encode())
        return valid and int(expires) >= self.clock()


class MediaLinks:
    """The URLs of one lecture's media for one user, in the portal's delivery mode."""

    def __init__(
        self,
        signer: MediaSigner,
        blobs: BlobStore,
        asset: MediaAsset,
        user_id: int,
        *,
        direct: bool,
    ) -> None:
        self.signer = signer
        self.blobs = blobs
        self.asset = asset
        self.user_id = user_id
        self.direct = direct
        self.duration = asset.duration or 0.0

    def key(self, path: str) -> str:
        """The object key of a media path (a file of the ladder, or the captions)."""
        if path == CAPTIONS_PATH:
            if self.asset.captions_key is None:
                raise FileNotFoundError(path)
            return self.asset.captions_key
        return self.asset.key(path)

    def portal(self, path: str, *, extra: float = 0.0) -> str:
        return self.signer.url(self.asset.lecture_id, path, self.user_id, extra=extra)

    def media(self, path: str, *, extra: float = 0.0, download_name: str | None = None) -> str:
        """A URL of the object's bytes: presigned by the store in direct delivery (where the
        store has such URLs; ``download_name`` makes the browser save it), a signed portal URL
        otherwise."""
        if self.direct:
            expires_in = self.signer.lifetime + int(max(0.0, extra))
            url = self.blobs.url_for(
                self.key(path), expires_in=expires_in, download_name=download_name
            )
            if url is not None:
                return url
        return self.portal(path, extra=extra)

    def download_name(self) -> str:
        """The file name a downloaded rendition is saved under."""
        return f"lecture-{self.asset.lecture_id}-{posixpath.basename(self.asset.download or 'download.mp4')}"

    def optional(self, path: str | None) -> str | None:
        return self.media(path) if path else None

    def master_playlist(self) -> str:
        """The master playlist with every variant (and the audio rendition) signed. Variant
        playlists always come from the portal: it rewrites them too."""
        master = self.asset.master or "master.m3u8"
        text = self.blobs.get_bytes(self.asset.key(master)).decode("utf-8")
        base = posixpath.dirname(master)
        return rewrite_playlist(text, base, lambda path, _: self.portal(path, extra=self.duration))

    def variant_playlist(self, path: str) -> str:
        """A variant playlist with its init segment and segments signed, each valid until its
        due time plus the lifetime."""
        text = self.blobs.get_bytes(self.asset.key(path)).decode("utf-8")
        return rewrite_playlist(
            text, posixpath.dirname(path), lambda target, due: self.media(target, extra=due)
        )

    def thumbnail_track(self) -> str:
        """The WebVTT thumbnail track with its sprite sheets signed (``sprite-001.jpg#xywh=``)."""
        if self.asset.thumbnails is None:
            raise FileNotFoundError("no thumbnail track")
        text = self.blobs.get_bytes(self.asset.key(self.asset.thumbnails)).decode("utf-8")
        base = posixpath.dirname(self.asset.thumbnails)
        signed: dict[str, str] = {}
        lines = []
        for line in text.splitlines():
            name, hash_, fragment = line.partition("#xywh=")
            path = _resolve(base, name.strip()) if hash_ else None
            if path is None:
                lines.append(line)
                continue
            if path not in signed:
                signed[path] = self.media(path, extra=self.duration)
            lines.append(f"{signed[path]}#xywh={fragment}")
        return "\n".join(lines) + "\n"


def _resolve(base: str, uri: str) -> str | None:
    """A playlist's relative URI as a path inside the ladder; None for anything else."""
    if not uri or "://" in uri or uri.startswith("/"):
        return None
    path = posixpath.normpath(posixpath.join(base, uri))
    return path if is_safe_path(path) else None


def rewrite_playlist(text: str, base: str, sign: Callable[[str, float], str]) -> str:
    """Replace every relative URI of an HLS playlist (URI lines and ``URI="…"`` attributes of
    tags) by ``sign(path, due)``: ``path`` inside the ladder, ``due`` the playback time in
    seconds at which it is needed (the sum of the ``#EXTINF`` durations before it)."""
    due, pending = 0.0, 0.0
    lines = []

    def replace(match: re.Match[str]) -> str:
        path = _resolve(base, match.group(1))
        return f'URI="{sign(path, due)}"' if path is not None else match.group(0)

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            pending = extinf_duration(line) or 0.0
        if line.startswith("#"):
            lines.append(_URI_ATTRIBUTE.sub(replace, line))
        elif line:
            path = _resolve(base, line)
            lines.append(sign(path, due) if path is not None else line)
            due, pending = due + pending, 0.0
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"
