"""The player page, the transcript API and search, on a lecture with a real ladder and an
indexed transcript (``tests.support.media_portal``)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.support.media_portal import PortalWithLecture, build_portal, sign_in_as
from web.controllers.player import parse_start, quality_choices, start_rendition

VIDEO_360 = {"uri": "360p/index.m3u8", "bandwidth": 637_096, "height": 360, "audio_only": False}
VIDEO_540 = {"uri": "540p/index.m3u8", "bandwidth": 1_400_000, "height": 540, "audio_only": False}
AUDIO = {"uri": "audio/index.m3u8", "bandwidth": 66_882, "height": None, "audio_only": True}
LADDER = [VIDEO_360, VIDEO_540, AUDIO]


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


@pytest.mark.parametrize(
    ("kbps", "expected"),
    [
        (800, "360"),  # 80 % of 800 kbps carries the 637 kbps rung
        (2_000, "540"),
        (100_000, "540"),  # the county hospital: the top rung
        (700, "360"),  # 560 kbps budget, but the link carries 637 kbps: the lowest rung
        (500, "audio"),  # the link cannot carry even the lowest rung
        (None, ""),  # unknown: the player decides
    ],
)
def test_playback_starts_at_the_rung_that_fits_the_clinic_bandwidth(
    kbps: int | None, expected: str
) -> None:
    assert start_rendition(LADDER, kbps) == expected


def test_quality_menu_lists_video_heights_highest_first_and_parses_deep_links() -> None:
    assert quality_choices(LADDER) == [540, 360]
    assert [parse_start(v) for v in ("90", "12.5", "", "-3", "nan", "x")] == [90, 12.5, 0, 0, 0, 0]


def test_player_page_renders_its_controls_for_a_doctor_in_the_audience(
    portal: PortalWithLecture, doctor: TestClient[Litestar]
) -> None:
    page = doctor.get(f"/lectures/{portal.lecture_id}/watch?t=3")
    assert page.status_code == 200
    text = page.text
    for marker in (
        'id="player"',
        'id="quality"',
        'id="captions-toggle"',
        'id="speed"',
        'id="transcript"',
        'id="download"',
        "/vendor/hls.",  # hls.js (full or light), under /static/ or a hashed /assets/ path
        "js/player.js",
        'kind="captions"',
        'data-start="3.0"',
        'data-start-rendition="360"',  # 黎塘村卫生室 declares 800 kbps
        f'data-master="/lectures/{portal.lecture_id}/hls/master.m3u8"',
        '<option value="360">360p</option>',
        '<option value="audio">',
        'poster="/media/',
        f'href="/lectures/{portal.lecture_id}/download"',
    ):
        assert marker in text, marker
    starts = re.findall(r'<li data-start="([\d.]+)"', text)
    assert starts == ["0.0", "1.5", "3.2"]
    assert "Amlodipine suits elderly patients." in text
    assert "seg-edit" not in text  # a doctor does not correct transcripts
    track = re.search(r'<track[^>]*src="([^"]+)"', text)
    assert track is not None
    assert doctor.get(html.unescape(track.group(1))).text.startswith("WEBVTT")


def test_player_page_speaks_chinese_by_default(portal: PortalWithLecture) -> None:
    with TestClient(portal.app) as client:
        sign_in_as(client, "spec-in")  # zh-CN, the default locale
        page = client.get(f"/lectures/{portal.lecture_id}/watch").text
    for chinese in ("清晰度", "自动", "仅音频", "倍速", "字幕", "文字稿", "下载", "更正", "搜索"):
        assert chinese in page, chinese


def test_player_page_sends_strangers_to_sign_in(portal: PortalWithLecture) -> None:
    with TestClient(portal.app) as client:
        response = client.get(f"/lectures/{portal.lecture_id}/watch", follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_player_page_says_when_the_recording_is_not_ready(
    doctor: TestClient[Litestar],
) -> None:
    page = doctor.get("/lectures/1/watch")  # a seeded lecture without media
    assert page.status_code == 200
    assert "This recording is not ready yet." in page.text
    assert 'id="player"' not in page.text


def test_transcript_api_lists_the_segments_in_order(
    portal: PortalWithLecture, doctor: TestClient[Litestar]
) -> None:
    segments = doctor.get(f"/api/v1/lectures/{portal.lecture_id}/transcript").json()
    assert [(s["start"], s["end"], s["text"], s["edited"]) for s in segments] == [
        (0.0, 1.5, "Good morning, colleagues.", False),
        (1.5, 3.0, "Today we adjust blood pressure drugs.", False),
        (3.2, 4.8, "Amlodipine suits elderly patients.", False),
    ]


def test_the_specialist_corrects_a_segment_and_search_follows(
    portal: PortalWithLecture,
) -> None:
    url = f"/api/v1/lectures/{portal.lecture_id}/transcript"
    with TestClient(portal.app) as client:
        sign_in_as(client, "spec-in")
        segment = client.get(url).json()[1]
        csrf = {"x-csrftoken": client.cookies.get("csrftoken", "")}
        target = f"{url}/segments/{segment['id']}"
        assert client.patch(target, json={"text": "Nifedipine"}).status_code == 403  # no CSRF
        assert client.patch(target, json={"text": "  "}, headers=csrf).status_code == 400
        corrected = client.patch(
            target, json={"text": "Today we adjust nifedipine doses."}, headers=csrf
        )
        assert corrected.status_code == 200
        assert corrected.json() == {
            **segment,
            "text": "Today we adjust nifedipine doses.",
            "edited": True,
        }
        assert (
            client.patch(f"{url}/segments/999999", json={"text": "x"}, headers=csrf).status_code
            == 404
        )
        found = client.get("/api/v1/search", params={"q": "nifedipine"}).json()
        assert [hit["start"] for hit in found["lectures"][0]["hits"]] == [1.5]
        captions = portal.services.blobs.get_bytes(portal.asset.captions_key or "").decode()
        assert "Today we adjust nifedipine doses." in captions  # the captions follow too
    with TestClient(portal.app) as client:
        sign_in_as(client, "doc-in")
        csrf = {"x-csrftoken": client.cookies.get("csrftoken", "")}
        refused = client.patch(target, json={"text": "A doctor's edit"}, headers=csrf)
        assert refused.status_code == 403
        assert client.get(url).json()[1]["text"] == "Today we adjust nifedipine doses."


def test_search_api_finds_a_spoken_word_and_links_to_its_second(
    portal: PortalWithLecture, doctor: TestClient[Litestar]
) -> None:
    found = doctor.get("/api/v1/search", params={"q": "amlodipine"}).json()
    assert found["total"] == 1
    lecture = found["lectures"][0]
    assert lecture["lecture_id"] == portal.lecture_id
    assert lecture["moments"] == [3.2]
    [hit] = lecture["hits"]
    assert hit["url"] == f"/lectures/{portal.lecture_id}/watch?t=3"
    assert "<mark>Amlodipine</mark>" in hit["snippet_html"]
    with TestClient(portal.other_app) as client:
        assert client.get("/api/v1/search", params={"q": "amlodipine"}).status_code == 401
        sign_in_as(client, "doc-out")  # outside the audience: the lecture is not found
        assert client.get("/api/v1/search", params={"q": "amlodipine"}).json()["total"] == 0


def test_search_page_groups_hits_by_lecture_with_highlighted_snippets(
    portal: PortalWithLecture, doctor: TestClient[Litestar]
) -> None:
    page = doctor.get("/search", params={"q": "elderly patients"})
    assert page.status_code == 200
    assert 'id="search-results"' in page.text
    assert f'data-lecture-id="{portal.lecture_id}"' in page.text
    assert f'href="/lectures/{portal.lecture_id}/watch?t=3"' in page.text
    assert "<mark>elderly</mark> <mark>patients</mark>" in page.text
    assert "Hypertension drugs for the <mark>elderly</mark>" in page.text
    escaped = doctor.get("/search", params={"q": "<script>alert(1)</script>"}).text
    assert "<script>alert(1)</script>" not in escaped
    assert 'id="no-results"' in escaped
    assert 'id="nav-search"' in doctor.get("/").text
