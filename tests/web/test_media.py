"""Private media delivery on a real ladder: a generated clip transcoded by the real transcoder,
stored in the session's SeaweedFS, served through signed URLs (portal delivery) or presigned S3
URLs (direct delivery). The portal is ``tests.support.media_portal``'s."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import av
import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.support.media_portal import PortalWithLecture, build_portal, sign_in_as
from web.media_urls import MediaSigner, is_safe_path, rewrite_playlist


@pytest.fixture(scope="module")
def portal(
    tmp_path_factory: pytest.TempPathFactory, embedded_s3: EmbeddedSeaweedFS
) -> Iterator[PortalWithLecture]:
    yield from build_portal(tmp_path_factory, embedded_s3)


@pytest.fixture
def doctor(portal: PortalWithLecture) -> Iterator[TestClient[Litestar]]:
    with TestClient(portal.app) as client:
        sign_in_as(client, "doc-in")
        yield client


def uris(playlist: str) -> list[str]:
    """The URI lines and URI="…" attributes of a playlist, in order."""
    found = []
    for line in playlist.splitlines():
        if line.startswith("#"):
            found += re.findall(r'URI="([^"]*)"', line)
        elif line.strip():
            found.append(line.strip())
    return found


def variant_urls(client: TestClient[Litestar], lecture_id: int) -> list[str]:
    master = client.get(f"/lectures/{lecture_id}/hls/master.m3u8")
    assert master.status_code == 200
    return uris(master.text)


def test_master_playlist_signs_every_variant_for_a_doctor_in_the_audience(
    portal: PortalWithLecture, doctor: TestClient[Litestar]
) -> None:
    response = doctor.get(f"/lectures/{portal.lecture_id}/hls/master.m3u8")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert response.headers["cache-control"] == "no-store"
    assert "BANDWIDTH=" in response.text
    urls = uris(response.text)
    assert {urlsplit(url).path for url in urls} == {
        f"/media/{portal.lecture_id}/{rendition['uri']}" for rendition in portal.asset.renditions
    }
    assert f"/media/{portal.lecture_id}/360p/index.m3u8" in {urlsplit(url).path for url in urls}
    for url in urls:
        assert set(parse_qs(urlsplit(url).query)) == {"u", "exp", "sig"}


def test_doctor_outside_the_audience_gets_403_on_every_lecture_url(
    portal: PortalWithLecture,
) -> None:
    lecture = portal.lecture_id
    with TestClient(portal.app) as client:
        sign_in_as(client, "doc-out")
        for url in (
            f"/lectures/{lecture}/hls/master.m3u8",
            f"/lectures/{lecture}/watch",
            f"/lectures/{lecture}/download",
            f"/api/v1/lectures/{lecture}/media",
            f"/api/v1/lectures/{lecture}/transcript",
        ):
            assert client.get(url, follow_redirects=False).status_code == 403, url
        patched = client.patch(
            f"/api/v1/lectures/{lecture}/transcript/segments/1",
            json={"text": "changed"},
            headers={"x-csrftoken": client.cookies.get("csrftoken", "")},
        )
        assert patched.status_code == 403


def test_media_urls_need_a_session_or_a_signature(portal: PortalWithLecture) -> None:
    with TestClient(portal.other_app) as anonymous:
        master = anonymous.get(f"/lectures/{portal.lecture_id}/hls/master.m3u8")
        assert master.status_code == 401
        unsigned = anonymous.get(f"/media/{portal.lecture_id}/360p/init.mp4")
        assert unsigned.status_code == 403


def test_master_playlist_is_404_before_the_ladder_exists(portal: PortalWithLecture) -> None:
    with TestClient(portal.app) as client:
        sign_in_as(client, "doc-in")
        assert client.get("/lectures/1/hls/master.m3u8").status_code == 404  # seeded, no media


def test_signed_variant_playlist_and_segments_play_without_a_session(
    portal: PortalWithLecture, doctor: TestClient[Litestar]
) -> None:
    video = next(url for url in variant_urls(doctor, portal.lecture_id) if "360p" in url)
    with TestClient(portal.other_app) as anonymous:  # hls.js may fetch without cookies
        variant = anonymous.get(video)
        assert variant.status_code == 200
        assert variant.headers["cache-control"] == "no-store"
        assert '#EXT-X-MAP:URI="/media/' in variant.text
        init_url, *segment_urls = uris(variant.text)
        assert [urlsplit(u).path.rsplit("/", 1)[1] for u in segment_urls] == [
            "seg-00000.m4s",
            "seg-00001.m4s",
        ]
        init = anonymous.get(init_url)
        first = anonymous.get(segment_urls[0])
    assert init.status_code == first.status_code == 200
    assert init.content == (portal.ladder / "360p/init.mp4").read_bytes()
    assert init.content[4:8] == b"ftyp"
    assert first.headers["cache-control"].startswith("private, max-age=")
    with av.open(io.BytesIO(init.content + first.content)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (640, 360)


def test_later_segments_stay_valid_until_their_playback_time_plus_the_lifetime(
    portal: PortalWithLecture, doctor: TestClient[Litestar]
) -> None:
    video = next(url for url in variant_urls(doctor, portal.lecture_id) if "360p" in url)
    issued = time.time()
    _, first, second = uris(doctor.get(video).text)
    lifetime = portal.settings.media.url_lifetime_seconds
    first_exp = int(parse_qs(urlsplit(first).query)["exp"][0])
    second_exp = int(parse_qs(urlsplit(second).query)["exp"][0])
    assert issued + lifetime - 2 <= first_exp <= issued + lifetime + 2
    assert second_exp - first_exp in (3, 4, 5)  # the first segment lasts 4 s


def test_captions_poster_thumbnails_and_download_are_signed(
    portal: PortalWithLecture, doctor: TestClient[Litestar]
) -> None:
    media = doctor.get(f"/api/v1/lectures/{portal.lecture_id}/media").json()
    with TestClient(portal.other_app) as anonymous:
        captions = anonymous.get(media["captions"])
        assert captions.status_code == 200
        assert captions.text.startswith("WEBVTT")
        assert "Amlodipine suits elderly patients." in captions.text
        poster = anonymous.get(media["poster"])
        assert poster.content == (portal.ladder / "poster.jpg").read_bytes()
        track = anonymous.get(media["thumbnails"])
        sprite = re.search(r"^(/media/\S+)#xywh=0,0,", track.text, re.MULTILINE)
        assert sprite is not None, track.text
        assert anonymous.get(sprite.group(1)).content[:2] == b"\xff\xd8"  # a JPEG
        audio = anonymous.get(media["audio"])
        assert audio.status_code == 200
        assert "/audio/seg-00000.m4s" in audio.text
    redirect = doctor.get(media["download"], follow_redirects=False)
    assert redirect.status_code == 303
    download = doctor.get(redirect.headers["location"])
    assert download.status_code == 200
    name = f"lecture-{portal.lecture_id}-{portal.asset.download}"
    assert download.headers["content-disposition"] == (
        f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
    )
    assert download.content == (portal.ladder / str(portal.asset.download)).read_bytes()


def test_download_answers_byte_ranges(
    portal: PortalWithLecture, doctor: TestClient[Litestar]
) -> None:
    url = doctor.get(f"/lectures/{portal.lecture_id}/download", follow_redirects=False).headers[
        "location"
    ]
    whole = (portal.ladder / str(portal.asset.download)).read_bytes()
    with TestClient(portal.other_app) as anonymous:
        head = anonymous.get(url, headers={"Range": "bytes=0-99"})
        assert head.status_code == 206
        assert head.headers["content-range"] == f"bytes 0-99/{len(whole)}"
        assert head.content == whole[:100]
        tail = anonymous.get(url, headers={"Range": "bytes=-50"})
        assert (tail.status_code, tail.content) == (206, whole[-50:])
        rest = anonymous.get(url, headers={"Range": f"bytes={len(whole) - 10}-"})
        assert rest.content == whole[-10:]
        beyond = anonymous.get(url, headers={"Range": f"bytes={len(whole)}-"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{len(whole)}"


def signed(portal: PortalWithLecture, path: str, *, user: int, issued: float) -> str:
    secret = portal.settings.secret_key()
    lifetime = portal.settings.media.url_lifetime_seconds
    return MediaSigner(secret, lifetime, clock=lambda: issued).url(portal.lecture_id, path, user)


def test_an_expired_signed_url_is_refused(portal: PortalWithLecture) -> None:
    lifetime = portal.settings.media.url_lifetime_seconds
    fresh = signed(portal, "360p/init.mp4", user=1, issued=time.time())
    stale = signed(portal, "360p/init.mp4", user=1, issued=time.time() - lifetime - 5)
    with TestClient(portal.other_app) as anonymous:
        assert anonymous.get(fresh).status_code == 200
        assert anonymous.get(stale).status_code == 403


def test_a_short_lifetime_makes_copied_urls_stop_working(
    portal: PortalWithLecture,
) -> None:
    app = portal.app_with(url_lifetime_seconds=1)
    with TestClient(app) as client:
        sign_in_as(client, "doc-in")
        captions = client.get(f"/api/v1/lectures/{portal.lecture_id}/media").json()["captions"]
        assert client.get(captions).status_code == 200
        time.sleep(2.1)
        assert client.get(captions).status_code == 403


@pytest.mark.parametrize(
    "forge",
    [
        lambda url: url.replace("/360p/init.mp4", "/360p/seg-00000.m4s"),  # another object
        lambda url: re.sub(r"exp=(\d+)", lambda m: f"exp={int(m.group(1)) + 3600}", url),
        lambda url: re.sub(r"sig=(.)", lambda m: "sig=" + ("B" if m.group(1) != "B" else "C"), url),
        lambda url: url.replace("u=1&", "u=2&"),  # another user
        lambda url: re.sub(r"^/media/\d+/", "/media/1/", url),  # another lecture
        lambda url: url.split("&sig=")[0],  # no signature
    ],
    ids=["path", "expiry", "signature", "user", "lecture", "unsigned"],
)
def test_a_forged_signed_url_is_refused(portal: PortalWithLecture, forge: object) -> None:
    url = signed(portal, "360p/init.mp4", user=1, issued=time.time())
    assert callable(forge)
    forged = forge(url)
    assert forged != url
    with TestClient(portal.other_app) as anonymous:
        assert anonymous.get(forged).status_code == 403


def test_direct_delivery_hands_out_presigned_s3_urls(
    portal: PortalWithLecture, embedded_s3: EmbeddedSeaweedFS
) -> None:
    app = portal.app_with(delivery="direct")
    with TestClient(app) as client:
        sign_in_as(client, "doc-in")
        master = client.get(f"/lectures/{portal.lecture_id}/hls/master.m3u8").text
        video = next(url for url in uris(master) if "360p" in url)
        assert video.startswith(f"/media/{portal.lecture_id}/")  # playlists: the portal
        variant = client.get(video)
        assert variant.status_code == 200
        init_url, first_url, _ = uris(variant.text)
        download = client.get(
            f"/lectures/{portal.lecture_id}/download", follow_redirects=False
        ).headers["location"]
    for url, local in ((init_url, "360p/init.mp4"), (first_url, "360p/seg-00000.m4s"),
                       (download, str(portal.asset.download))):  # fmt: skip
        assert url.startswith(embedded_s3.endpoint_url), url  # segments: straight from S3
        assert "Signature" in url or "X-Amz-Signature" in url
        assert httpx.get(url, timeout=10).content == (portal.ladder / local).read_bytes()
    unsigned = init_url.split("?")[0]
    assert httpx.get(unsigned, timeout=10).status_code == 403  # the bucket is private
    saved = httpx.get(download, timeout=10).headers["content-disposition"]
    assert saved.startswith('attachment; filename="lecture-')  # saved, not played, from S3 too


def test_rewrite_playlist_leaves_absolute_and_escaping_uris_alone() -> None:
    text = '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2.0,\nhttps://cdn.example/x.m4s\n#EXTINF:2.0,\n../../secret.m4s\n'
    seen: list[tuple[str, float]] = []

    def sign(path: str, due: float) -> str:
        seen.append((path, due))
        return f"SIGNED:{path}"

    rewritten = rewrite_playlist(text, "360p", sign)
    assert 'URI="SIGNED:360p/init.mp4"' in rewritten
    assert "https://cdn.example/x.m4s" in rewritten
    assert "../../secret.m4s" in rewritten
    assert seen == [("360p/init.mp4", 0.0)]
    assert not is_safe_path("360p/../../secret.m4s")
    assert not is_safe_path(".hidden/x")
    assert is_safe_path("360p/seg-00001.m4s")
