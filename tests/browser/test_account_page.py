"""The account page in Chromium on a phone: a doctor makes a personal access token, sees it
once, and it works with curl-like calls; no page breaks the Content-Security-Policy."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect

from tests.browser.conftest import VIEWPORTS, screenshot
from tests.support.portal import LivePortal

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "village-pass-1"


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    with LivePortal(tmp_path_factory.mktemp("account") / "data") as live:
        live.clinicast("seed")
        live.clinicast(
            "users", "create", "dr.qian", "--role", "doctor", "--clinic", "139901001002",
            "--password", PASSWORD,
        )  # fmt: skip
        yield live


def test_a_doctor_makes_a_token_on_a_phone_and_scripts_can_use_it(
    browser: Browser, portal: LivePortal
) -> None:
    context = browser.new_context(viewport=VIEWPORTS["phone"], locale="zh-CN")  # type: ignore[arg-type]
    page = context.new_page()
    violations: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", on_console)
    page.goto(f"{portal.base_url}/login")
    page.get_by_label("用户名").fill("dr.qian")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("link", name="我的账户").click()
    expect(page.get_by_role("heading", name="我的账户")).to_be_visible()
    page.get_by_label("名称").fill("区域平台")
    page.get_by_role("button", name="创建令牌").click()
    token = page.locator("code.secret").inner_text()
    assert re.fullmatch(r"clc_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", token)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS["phone"]["width"], "the account page scrolls sideways on a phone"
    screenshot(page, "account-token")
    me = httpx.get(f"{portal.base_url}/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert me.json()["username"] == "dr.qian"
    page.get_by_role("button", name="吊销").click()
    expect(page.get_by_text("暂无令牌。")).to_be_visible()
    gone = httpx.get(f"{portal.base_url}/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert gone.status_code == 401
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    page.get_by_role("button", name="Sign out everywhere").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert violations == []
    context.close()
