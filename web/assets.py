"""Scripts, styles and front-end libraries for poor links: content-hashed URLs cached for a year
(``immutable``: a repeat visit fetches nothing), compressed once per process (brotli, else gzip).

Templates ask for ``asset('js/player.js')`` and get ``/assets/3f2a9c1b0d4e/js/player.js``;
when the file changes, its URL changes. A URL with an old digest (a page cached before a
deployment) is redirected to the current one, never served stale content under a new name.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Response

try:  # brotli is a dependency; a build without it still serves gzip
    import brotli
except ImportError:  # pragma: no cover
    brotli = None

IMMUTABLE = "public, max-age=31536000, immutable"
TEXTUAL = (".js", ".mjs", ".css", ".svg", ".json", ".txt", ".map", ".vtt", ".html")


@dataclass
class _Asset:
    path: Path
    digest: str
    media_type: str
    encoded: dict[str, bytes] = field(default_factory=dict)


class StaticAssets:
    """The files under ``root`` (``web/static``), addressed by content."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._assets: dict[str, _Asset] = {}
        self._lock = threading.Lock()

    def _asset(self, relative: str) -> _Asset:
        found = self._assets.get(relative)
        if found is not None:
            return found
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()) or not path.is_file():
            raise NotFoundException(f"no asset {relative}")
        data = path.read_bytes()
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or path.suffix in (".js", ".mjs"):
            media_type += "; charset=utf-8"
        asset = _Asset(path, hashlib.sha256(data).hexdigest()[:12], media_type)
        asset.encoded["identity"] = data
        self._assets[relative] = asset
        return asset

    def url(self, relative: str) -> str:
        """The content-addressed URL of ``relative`` (``js/player.js``)."""
        return f"/assets/{self._asset(relative).digest}/{relative}"

    def body(self, relative: str, accept_encoding: str) -> tuple[_Asset, str, bytes]:
        """The asset, the encoding chosen for this client and the bytes in it."""
        asset = self._asset(relative)
        accepted = {part.split(";")[0].strip() for part in accept_encoding.lower().split(",")}
        if asset.path.suffix not in TEXTUAL:
            return asset, "identity", asset.encoded["identity"]
        for encoding in ("br", "gzip"):
            if encoding in accepted and (encoding != "br" or brotli is not None):
                return asset, encoding, self._encoded(asset, encoding)
        return asset, "identity", asset.encoded["identity"]

    def _encoded(self, asset: _Asset, encoding: str) -> bytes:
        with self._lock:  # compressed once per process, at the densest setting
            if encoding not in asset.encoded:
                data = asset.encoded["identity"]
                if encoding == "br":
                    asset.encoded["br"] = brotli.compress(data, quality=11)
                else:
                    asset.encoded["gzip"] = gzip.compress(data, compresslevel=9, mtime=0)
            return asset.encoded[encoding]


def asset_handler(assets: StaticAssets) -> Any:
    """The route serving ``/assets/{digest}/{path}``."""

    @get("/assets/{digest:str}/{path:path}", sync_to_thread=True, include_in_schema=False)
    def serve_asset(
        request: Request[Any, Any, Any], digest: FromPath[str], path: FromPath[str]
    ) -> Response[bytes]:
        relative = path.lstrip("/")
        current = assets.url(relative)  # 404 for a file that does not exist
        if not current.startswith(f"/assets/{digest}/"):
            return Redirect(current, status_code=302, headers={"Cache-Control": "no-cache"})
        asset, encoding, body = assets.body(relative, request.headers.get("accept-encoding", ""))
        headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
        if encoding != "identity":
            headers["Content-Encoding"] = encoding
        return Response(body, media_type=asset.media_type, headers=headers)

    return serve_asset
