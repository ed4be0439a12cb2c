"""The attendance pages in Chromium at phone size (390×844) against a real portal: a township
coordinator's period page draws both charts and the matrix, the lecture page shows who is
watching now, and no page scrolls sideways (wide tables scroll inside their own box)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import VIEWPORTS, screenshot
from tests.support.portal import LivePortal
from training.base import utcnow

pytestmark = [pytest.mark.browser]
PASSWORD = "portal-pass-1"
VILLAGE_NAME = "黎塘村卫生室"  # 139901001001, in township 1


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    with LivePortal(tmp_path_factory.mktemp("attendance-pages") / "data") as live:
        live.clinicast("seed")
        for name, role, clinic in (
            ("spec.li", "specialist", "139901000001"),
            ("coord.t1", "coordinator", "139901001000"),
            ("doc.a", "doctor", "139901001001"),
        ):
            live.clinicast(
                "users", "create", name, "--role", role, "--clinic", clinic, "--password", PASSWORD
            )
        yield live


def signed_in(browser: Browser, portal: LivePortal, username: str) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=VIEWPORTS["phone"], locale="zh-CN")  # type: ignore[arg-type]
    page = context.new_page()
    page.goto(f"{portal.base_url}/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form.login button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$|/lectures"))
    return context, page


def csrf(context: BrowserContext) -> dict[str, str]:
    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    return {"x-csrftoken": token}


@pytest.fixture(scope="module")
def lecture(browser: Browser, portal: LivePortal) -> int:
    """A county-wide lecture that began an hour ago, which doc.a's clinic is watching now."""
    context, page = signed_in(browser, portal, "spec.li")
    county = {"clinic_id": 1, "include_subtree": True}
    created = page.request.post(
        f"{portal.base_url}/api/v1/lectures",
        data={"title": "基层慢病随访", "audience": [county], "mandatory": True,
              "scheduled_start": (utcnow() - timedelta(hours=1)).isoformat()},
        headers=csrf(context),
    )  # fmt: skip
    assert created.status == 201, created.text()
    lecture_id: int = created.json()["id"]
    context.close()
    context, page = signed_in(browser, portal, "doc.a")
    beats = [{"session_id": "browser-report-1", "seq": seq, "lecture_id": lecture_id,
              "mode": "vod", "start": seq * 600, "end": seq * 600 + 600, "rendition": "360",
              "head_count": 6} for seq in range(4)]  # fmt: skip
    sent = page.request.post(
        f"{portal.base_url}/api/v1/attendance/heartbeats",
        data={"heartbeats": beats},
        headers=csrf(context),
    )
    assert sent.json()["accepted"] == 4, sent.text()
    context.close()
    return lecture_id


def no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_a_coordinator_reads_attendance_on_a_phone(
    browser: Browser, portal: LivePortal, lecture: int
) -> None:
    context, page = signed_in(browser, portal, "coord.t1")
    page.locator("#nav-attendance").click()
    expect(page.locator("#matrix")).to_be_visible()
    expect(page.locator(f"#period-lectures tr[data-lecture-id='{lecture}']")).to_contain_text(
        "1/17"
    )
    page.wait_for_function(  # a function, not an expression: the CSP forbids eval
        "() => window.Chart && Chart.getChart(document.getElementById('chart-over-time'))"
        " && Chart.getChart(document.getElementById('chart-by-township'))"
    )
    no_sideways_scroll(page)
    screenshot(page, "attendance-period-zh")

    page.locator(f"#period-lectures a[href='/attendance/lectures/{lecture}']").click()
    expect(page.locator("#total-attended")).to_contain_text("1/17")
    expect(page.locator("#now-clinics li")).to_contain_text(f"{VILLAGE_NAME} · 6")
    expect(page.locator("#lecture-clinics tbody tr").first).to_have_class("absent")
    no_sideways_scroll(page)
    screenshot(page, "attendance-lecture-zh")

    expect(page.locator("#lecture-clinics a", has_text="doc.a")).to_be_visible()  # by name
    page.locator("#lecture-clinics a", has_text=VILLAGE_NAME).click()
    expect(page.locator("#history-attended")).to_have_text("1/1")
    no_sideways_scroll(page)
    context.close()
