"""The portal as a person sees it in Chromium: sign in, the lectures of one's clinic, both
interface languages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.support.portal import LivePortal

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    with LivePortal(tmp_path_factory.mktemp("portal") / "data") as live:
        live.clinicast("seed")
        live.clinicast(
            "users",
            "create",
            "dr.zhao",
            "--role",
            "doctor",
            "--clinic",
            "139901001002",
            "--password",
            "village-pass-1",
        )
        yield live


def test_village_doctor_signs_in_and_sees_the_county_lectures_in_chinese(
    page: Page, portal: LivePortal
) -> None:
    page.goto(portal.base_url)
    expect(page.get_by_text("请登录查看您所在机构的课程")).to_be_visible()
    page.get_by_role("link", name="登录").first.click()
    page.get_by_label("用户名").fill("dr.zhao")
    page.get_by_label("密码").fill("village-pass-1")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_text("老年高血压患者的降压药调整")).to_be_visible()
    expect(page.get_by_text("必修").first).to_be_visible()
    assert Path(screenshot(page, "home-zh")).exists()


def test_wrong_password_is_told_plainly_and_english_is_one_click_away(
    page: Page, portal: LivePortal
) -> None:
    page.goto(f"{portal.base_url}/login")
    page.get_by_label("用户名").fill("dr.zhao")
    page.get_by_label("密码").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_have_text("用户名或密码错误。")
    page.get_by_role("button", name="English").click()  # back to the same page, in English
    expect(page).to_have_title(re.compile("Sign in · Clinicast"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(portal.base_url)
    expect(page.get_by_text("Sign in to see the lectures for your clinic.")).to_be_visible()
    screenshot(page, "home-en-signed-out")
