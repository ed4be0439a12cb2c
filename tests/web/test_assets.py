"""Static assets for poor links: content-hashed URLs, a year of immutable caching, brotli or
gzip compressed once, old digests redirected, nothing outside the static folder."""

from __future__ import annotations

import gzip
from pathlib import Path

import brotli
import pytest
from litestar import Litestar
from litestar.exceptions import NotFoundException
from litestar.testing import TestClient

from web.assets import IMMUTABLE, StaticAssets, asset_handler


@pytest.fixture
def static(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    (root / "js").mkdir(parents=True)
    (root / "js" / "player.js").write_text("console.log('player');\n" * 200)
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    (tmp_path / "secret.txt").write_text("not an asset")
    return root


def client_for(assets: StaticAssets) -> TestClient[Litestar]:
    return TestClient(Litestar(route_handlers=[asset_handler(assets)]))


def test_a_script_is_served_compressed_under_its_content_digest(static: Path) -> None:
    assets = StaticAssets(static)
    url = assets.url("js/player.js")
    assert url.startswith("/assets/")
    assert url.endswith("/js/player.js")
    with client_for(assets) as client:
        for encoding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress)):
            response = client.get(url, headers={"Accept-Encoding": f"{encoding}, identity"})
            assert response.status_code == 200
            assert response.headers["content-encoding"] == encoding
            assert response.headers["cache-control"] == IMMUTABLE
            assert response.headers["vary"] == "Accept-Encoding"
            assert response.headers["content-type"].startswith("text/javascript")
            raw = response.read() if hasattr(response, "read") else response.content
            # httpx decodes gzip and br itself; either way the script is intact and smaller
            # on the wire than it is on disk.
            text = raw if raw.startswith(b"console") else decode(raw)
            assert text == (static / "js" / "player.js").read_bytes()
            assert int(response.headers["content-length"]) < len(text) / 10


def test_a_client_without_compression_and_binary_files_get_the_bytes(static: Path) -> None:
    assets = StaticAssets(static)
    with client_for(assets) as client:
        plain = client.get(assets.url("js/player.js"), headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == (static / "js" / "player.js").read_bytes()
        image = client.get(assets.url("logo.png"), headers={"Accept-Encoding": "br, gzip"})
        assert "content-encoding" not in image.headers  # already compressed: sent as it is
        assert image.headers["content-type"] == "image/png"


def test_a_changed_file_gets_a_new_url_and_old_urls_redirect(static: Path) -> None:
    old = StaticAssets(static).url("js/player.js")
    (static / "js" / "player.js").write_text("console.log('player 2');\n")
    assets = StaticAssets(static)
    new = assets.url("js/player.js")
    assert new != old
    with client_for(assets) as client:
        moved = client.get(old, follow_redirects=False)
        assert moved.status_code == 302
        assert moved.headers["location"] == new
        assert moved.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["js/missing.js", "../secret.txt", "js/../../secret.txt"])
def test_only_files_of_the_static_folder_are_served(static: Path, path: str) -> None:
    assets = StaticAssets(static)
    with client_for(assets) as client:
        assert client.get(f"/assets/0123456789ab/{path}").status_code == 404


def test_a_path_out_of_the_folder_is_refused_by_the_store_itself(static: Path) -> None:
    # (an HTTP client normalises ``..`` away before sending; the store must not rely on it)
    assets = StaticAssets(static)
    for path in ("../secret.txt", "js/../../secret.txt", "/etc/passwd"):
        with pytest.raises(NotFoundException):
            assets.url(path)
