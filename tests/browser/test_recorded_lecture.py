"""The first thing a county uses, in Chromium against a real portal with its worker: a
specialist creates a lecture for two townships and uploads a clip with speech; it is
transcoded, transcribed and published; a village doctor in the audience watches it (audio only,
captions), finds a spoken word by search and lands at that second; a doctor outside the
audience cannot see it at all. In the Chinese and the English interface."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from infra.speech import resolve_model
from tests.browser.conftest import VIEWPORTS, screenshot
from tests.support.media import clip_with_speech
from tests.support.portal import LivePortal

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "portal-pass-1"
TITLE = "Hypertension in elderly patients"


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory, speech_data_dir: Path) -> Iterator[LivePortal]:
    model = resolve_model("base", speech_data_dir)  # the verified packaged model, assembled once
    extra = {"CLINICAST_SPEECH__MODEL": str(model), "CLINICAST_MEDIA__PRESET": "ultrafast"}
    with LivePortal(tmp_path_factory.mktemp("portal") / "data", extra) as live:
        live.clinicast("seed")
        for name, role, clinic in (
            ("spec.wang", "specialist", "139901000001"),
            ("doc.in", "doctor", "139901002004"),  # a village of 东坝镇, in the audience
            ("doc.out", "doctor", "139901007003"),  # a village of 柳林乡, outside it
        ):
            live.clinicast(
                "users", "create", name, "--role", role, "--clinic", clinic, "--password", PASSWORD
            )
        yield live


def sign_in(page: Page, portal: LivePortal, username: str, *, language: str = "zh-CN") -> None:
    page.goto(f"{portal.base_url}/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form.login button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$|/lectures"))
    page.locator(f"form.language button[value='{language}']").click()  # kept with the account
    page.wait_for_load_state()


@pytest.fixture(scope="module")
def published(
    browser: Browser, portal: LivePortal, tmp_path_factory: pytest.TempPathFactory
) -> int:
    """The specialist's part, in the Chinese interface: create, upload, wait for published."""
    clip = clip_with_speech(tmp_path_factory.mktemp("clip") / "hypertension-lecture.mp4")
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="zh-CN")  # type: ignore[arg-type]
    page = context.new_page()
    sign_in(page, portal, "spec.wang")
    page.goto(f"{portal.base_url}/lectures/new")
    page.locator("input[name=title]").fill(TITLE)
    page.locator("textarea[name=description]").fill("降压药的调整 — adjusting blood-pressure drugs")
    page.locator("input[name=keywords]").fill("hypertension elderly blood pressure")
    page.locator("select[name=language]").select_option("en")
    for township in ("城关镇卫生院", "东坝镇卫生院"):
        page.locator("label", has_text=township).locator("input[name=audience]").first.check()
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/lectures/\d+$"))
    lecture_id = int(page.url.rsplit("/", 1)[1])

    page.locator("#upload-file").set_input_files(str(clip))
    page.locator("#upload-start").click()
    # Predicates as functions: a bare expression is eval()ed, which the portal's CSP forbids.
    page.wait_for_function(  # the progress bar reaches the end: every byte was sent
        "() => (bar => bar.max > 1 && bar.value >= bar.max)(document.querySelector('#upload-progress'))",
        timeout=60_000,
    )
    expect(page.locator("#pipeline-steps li")).to_have_count(4, timeout=30_000)
    screenshot(page, "lecture-processing-zh")
    expect(page.locator("#watch")).to_be_visible(timeout=240_000)  # published
    expect(page.locator("#lecture-status")).to_have_text("可点播")
    screenshot(page, "lecture-published-zh")
    context.close()
    return lecture_id


def test_doctor_in_the_audience_watches_with_audio_only_and_captions(
    browser: Browser, portal: LivePortal, published: int
) -> None:
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="en-US")  # type: ignore[arg-type]
    page = context.new_page()
    sign_in(page, portal, "doc.in", language="en")
    page.goto(f"{portal.base_url}/lectures")
    page.get_by_role("link", name=TITLE).first.click()
    page.goto(f"{portal.base_url}/lectures/{published}/watch")
    video = page.locator("#player")
    expect(video).to_be_visible()
    page.evaluate("window.clinicastPlayer.video.muted = true; window.clinicastPlayer.video.play()")
    page.wait_for_function("() => window.clinicastPlayer.video.currentTime > 0.5", timeout=30_000)
    assert page.evaluate("window.clinicastPlayer.video.videoHeight") > 0
    page.get_by_role("dialog").get_by_role("button", name="Save").click()  # head count: 1

    page.locator("#quality").select_option("audio")
    page.evaluate("window.clinicastPlayer.video.play()")
    page.wait_for_function(
        "() => window.clinicastPlayer.video.videoHeight === 0 && window.clinicastPlayer.video.currentTime > 0",
        timeout=30_000,
    )  # sound without picture: what a failing village link still carries

    page.locator("#captions-toggle").click()
    page.locator("#captions-toggle").click()
    expect(page.locator("#captions-toggle")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate(
        "[...window.clinicastPlayer.video.textTracks].some(t => t.mode === 'showing')"
    )
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#transcript li").first).to_contain_text(re.compile("blood pressure", re.I))
    screenshot(page, "player-en")
    context.close()


def test_search_finds_a_spoken_word_and_lands_at_its_second(
    browser: Browser, portal: LivePortal, published: int
) -> None:
    context = browser.new_context(viewport=VIEWPORTS["phone"], locale="zh-CN")  # type: ignore[arg-type]
    page = context.new_page()
    sign_in(page, portal, "doc.in")
    page.goto(f"{portal.base_url}/search?q=elderly")
    hit = page.locator(f"a[href*='/lectures/{published}/watch?t=']").first
    expect(hit).to_be_visible()
    second = float(re.search(r"t=([\d.]+)", hit.get_attribute("href") or "").group(1))  # type: ignore[union-attr]
    assert 0 <= second < 6
    screenshot(page, "search-zh")
    hit.click()
    page.wait_for_url(re.compile(r"/watch\?t="))
    page.wait_for_function(
        f"() => Math.abs(window.clinicastPlayer.video.currentTime - {second}) < 1.0", timeout=30_000
    )
    screenshot(page, "player-zh")
    context.close()


def test_doctor_outside_the_audience_cannot_see_the_lecture(
    browser: Browser, portal: LivePortal, published: int
) -> None:
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="zh-CN")  # type: ignore[arg-type]
    page = context.new_page()
    sign_in(page, portal, "doc.out")
    page.goto(f"{portal.base_url}/lectures")
    expect(page.get_by_text(TITLE)).to_have_count(0)
    page.goto(f"{portal.base_url}/search?q=elderly")
    expect(page.locator(f"a[href*='/lectures/{published}/']")).to_have_count(0)
    for path in (
        f"/lectures/{published}",
        f"/lectures/{published}/watch",
        f"/lectures/{published}/hls/master.m3u8",
        f"/api/v1/lectures/{published}",
    ):
        response = page.request.get(f"{portal.base_url}{path}")
        assert response.status == 403, path
    assert httpx.get(f"{portal.base_url}/lectures/{published}/hls/master.m3u8").status_code in (
        401,
        403,
    )
    context.close()
