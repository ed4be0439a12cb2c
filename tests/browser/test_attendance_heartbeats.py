"""Attendance from the player, in Chromium against a real portal: a village doctor plays a
recorded lecture with a real ladder; the player's heartbeats reach the portal; the network is
cut for part of the playback (Playwright's offline mode), comes back, is cut again and the page
is reloaded while offline; once the network returns, what the browser kept in its storage is
sent, and the township coordinator's report (``GET /api/v1/attendance/lectures/{id}``) shows
the whole lecture watched, with the head count the doctor gave. Also: the head-count dialog at
phone size, in Chinese; a heartbeat the portal rejects leaves the queue; two tabs share one
queue; a link slower than the rendition stalls playback, and the stalls are reported.

The browser reaches the portal through a relay the test can cut (``Link``), together with
Playwright's offline mode: the offline mode is what the page sees (``navigator.onLine``, the
'online' event), the relay makes the cut total — Chromium sends the keepalive requests of a page
being unloaded whatever the emulation says, so without it the heartbeat made as the page goes
away would slip through and the test could not tell a kept heartbeat from a leaked one.

The heartbeat cadence is the page's setting ``window.clinicastSettings.heartbeatSeconds``: 2 s
here instead of 15, so a 30-second clip has heartbeats enough."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Error, Page, expect
from sqlmodel import Session

from infra.db import make_engine, make_session_factory
from infra.media import FFmpegMediaProcessor
from infra.settings import Settings
from infra.storage.factory import blob_store_from_settings
from samples.media import lecture_clip
from tests.browser.conftest import SCREENSHOTS, VIEWPORTS, screenshot
from tests.conftest import wait_until
from tests.support.portal import LivePortal
from training.accounts.services import AccountService
from training.attendance.services import AttendanceAccounting, LectureFigures
from training.clinics.services import ClinicService
from training.lectures.models import Language
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.media.models import MediaAsset, MediaState
from training.search.services import SearchService

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "attendance-pass-1"
CLIP_SECONDS = 30
TOWNSHIP = "139901001000"  # the lecture's audience: this township and its villages
FAST_HEARTBEATS = "window.clinicastSettings = { heartbeatSeconds: 2 };"
VIDEO = "window.clinicastPlayer.video"


@dataclass(frozen=True)
class Lecture:
    id: int
    length_s: float
    figures: Callable[[], LectureFigures]  # the accounting's figures, read from the portal's db


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePortal]:
    with LivePortal(tmp_path_factory.mktemp("attendance") / "data") as live:
        live.clinicast("seed")
        for name, role, clinic in (
            ("spec.li", "specialist", "139901000001"),
            ("doc.village", "doctor", "139901001001"),  # villages of the township
            ("doc.phone", "doctor", "139901001002"),
            ("doc.queue", "doctor", "139901001003"),
            ("doc.tabs", "doctor", "139901001004"),
            ("doc.slow", "doctor", "139901001005"),
            ("coord.town", "coordinator", TOWNSHIP),
        ):
            live.clinicast(
                "users", "create", name, "--role", role, "--clinic", clinic, "--password", PASSWORD
            )
        yield live


@pytest.fixture(scope="module")
def lecture(portal: LivePortal, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lecture]:
    """A lecture for the township whose recording is a real ladder in the portal's own storage
    (transcoded here, not by the portal's worker: the pipeline has its own browser test)."""
    folder = tmp_path_factory.mktemp("attendance-clip")
    clip = lecture_clip(folder / "clip.mp4", seconds=CLIP_SECONDS, width=640, height=360)
    processor = FFmpegMediaProcessor(preset="ultrafast")
    ladder = processor.transcode(clip, folder / "ladder")
    settings = Settings(data_dir=portal.data_dir, storage={"embedded_port": portal.s3_port})
    blobs = blob_store_from_settings(settings)
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    with sessions() as session:
        specialist = AccountService(session).by_username("spec.li")
        township = ClinicService(session).by_region_code(TOWNSHIP)
        assert specialist is not None
        assert township is not None
        assert township.id is not None
        draft = LectureDraft(
            "Heart failure at the village clinic",
            audience=[(township.id, True)],
            language=Language.EN,
            mandatory=True,
            attendance_share=0.8,
        )
        scheduled = LectureService(session, SearchService(session)).schedule(specialist, draft)
        assert scheduled.id is not None
        prefix = f"lectures/{scheduled.id}/attempts/g1-1-attendance/"
        for path in sorted(p for p in ladder.outdir.rglob("*") if p.is_file()):
            blobs.put_file(prefix + path.relative_to(ladder.outdir).as_posix(), path)
        asset = MediaAsset(
            lecture_id=scheduled.id, state=MediaState.READY, generation=1,
            duration=processor.probe(clip).duration, hls_prefix=prefix, master=ladder.master,
            renditions=list(ladder.renditions), poster=ladder.poster, download=ladder.download,
        )  # fmt: skip
        session.add(asset)
        session.commit()
        lecture_id = scheduled.id

    def figures() -> LectureFigures:
        with sessions() as session:
            return AttendanceAccounting(session).lecture_figures(lecture_id)

    yield Lecture(lecture_id, figures().length_s, figures)
    engine.dispose()


class Link:
    """A TCP relay from the browser to the portal that can be cut (every connection closed,
    new ones closed at once) and restored: a real outage between the two. ``media_rate``
    (bytes per second) slows the answers to media requests (``/media/…``: playlists and
    segments) as a poor village link would, pages and scripts untouched."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.media_rate: float | None = None
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.sockets |= {client, upstream}
            media = threading.Event()  # the connection's latest request is for media
            for source, sink, answers in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(
                    target=self._pump, args=(source, sink, media, answers), daemon=True
                ).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, media: threading.Event, answers: bool
    ) -> None:
        try:
            while data := source.recv(4096):
                if not answers and data.startswith(b"GET "):
                    (media.set if data.split(b" ", 2)[1].startswith(b"/media/") else media.clear)()
                rate = self.media_rate
                if answers and rate and media.is_set():
                    time.sleep(len(data) / rate)
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):  # either side done: the connection is over
            self._close(end)

    def _close(self, end: socket.socket) -> None:
        with self.lock:
            self.sockets.discard(end)
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
        end.close()

    def cut(self) -> None:
        self.up = False
        with self.lock:
            ends = list(self.sockets)
        for end in ends:
            self._close(end)

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def link(portal: LivePortal) -> Iterator[Link]:
    relay = Link(portal.web_port)
    yield relay
    relay.close()


def user_id(portal: LivePortal, username: str) -> int:
    engine = make_engine(Settings(data_dir=portal.data_dir).database_url)
    try:
        with Session(engine) as session:
            user = AccountService(session).by_username(username)
            assert user is not None
            assert user.id is not None
            return user.id
    finally:
        engine.dispose()


def sign_in(context: BrowserContext, base_url: str, username: str, language: str) -> Page:
    page = context.new_page()
    page.goto(f"{base_url}/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form.login button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$|/lectures"))
    page.locator(f"form.language button[value='{language}']").click()  # kept with the account
    page.wait_for_load_state()
    return page


def play(page: Page) -> None:
    page.evaluate(f"{VIDEO}.muted = true; {VIDEO}.play()")


def until(page: Page, expression: str, timeout: float) -> None:
    """Wait for a JavaScript expression to hold (as a function: the page's CSP forbids eval)."""
    page.wait_for_function(f"() => ({expression})", timeout=timeout)


def position(page: Page) -> float:
    return float(page.evaluate(f"{VIDEO}.currentTime"))


def queued(page: Page) -> int:
    """Heartbeats the page keeps in storage, not yet answered for by the portal."""
    return int(page.evaluate("window.clinicastPlayer.attendance.queued()"))


def watched(lecture: Lecture, user: int) -> float:
    figures = lecture.figures().users.get(user)
    return figures.watched_s if figures else 0.0


def coordinator_line(browser: Browser, portal: LivePortal, lecture: Lecture, clinic: str) -> Any:
    """The township coordinator's report of the lecture (``GET /api/v1/attendance/lectures/…``):
    the line of one clinic, by region code."""
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="en-US")  # type: ignore[arg-type]
    page = sign_in(context, portal.base_url, "coord.town", "en")
    response = page.request.get(f"{portal.base_url}/api/v1/attendance/lectures/{lecture.id}")
    assert response.status == 200, response.text()
    lines = [line for line in response.json()["clinics"] if line["region_code"] == clinic]
    context.close()
    assert len(lines) == 1, f"clinic {clinic} is not in the report"
    return lines[0]


def test_heartbeats_survive_an_outage_and_an_offline_reload_and_count_the_whole_lecture(
    browser: Browser, portal: LivePortal, lecture: Lecture, link: Link
) -> None:
    doctor = user_id(portal, "doc.village")
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="en-US")  # type: ignore[arg-type]
    context.add_init_script(FAST_HEARTBEATS)
    base_url = f"http://127.0.0.1:{link.port}"
    page = sign_in(context, base_url, "doc.village", "en")
    watch = f"{base_url}/lectures/{lecture.id}/watch"

    def go_offline() -> None:
        link.cut()
        context.set_offline(True)

    def go_online() -> None:
        link.restore()
        context.set_offline(False)

    page.goto(watch)

    # Online: playback starts, the doctor says twelve people watch; heartbeats reach the portal.
    play(page)
    expect(page.get_by_role("dialog")).to_be_visible()
    page.locator("#head-count-input").fill("12")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.locator("#head-count-button")).to_have_text("People watching 12")
    wait_until(lambda: watched(lecture, doctor) >= 2, 30, "the first heartbeats to be counted")
    until(  # the whole clip is buffered: playback goes on without a network
        page,
        f"{VIDEO}.buffered.length && {VIDEO}.buffered.end({VIDEO}.buffered.length - 1)"
        f" >= {VIDEO}.duration - 0.5",
        timeout=30_000,
    )

    # The link fails for four seconds of playback: heartbeats are kept, none arrives.
    go_offline()
    cut_at = position(page)
    until(page, f"{VIDEO}.currentTime > {cut_at + 4}", timeout=20_000)
    until(page, "window.clinicastPlayer.attendance.queued() >= 2", timeout=10_000)
    assert watched(lecture, doctor) <= cut_at + 0.5

    # It comes back: what was kept is sent, all of it.
    restored_at = position(page)
    go_online()
    until(page, "window.clinicastPlayer.attendance.queued() === 0", timeout=10_000)
    assert watched(lecture, doctor) >= restored_at - 2.5  # a heartbeat every 2 s

    # Cut again, and the page is reloaded while offline: the reload fails, the heartbeats of the
    # playback so far (the one made as the page went away included) stay in the browser.
    go_offline()
    back_at = position(page)
    until(page, f"{VIDEO}.currentTime > {back_at + 3}", timeout=20_000)
    reloaded_at = position(page)
    with pytest.raises(Error, match="ERR_INTERNET_DISCONNECTED"):
        page.reload()
    page.wait_for_timeout(2000)  # for anything that might slip through
    assert watched(lecture, doctor) < reloaded_at - 2

    # Online again, the doctor opens the lecture where it stopped: the kept heartbeats go first
    # (under their own session), the head count is remembered, and the rest is watched.
    go_online()
    page.goto(f"{watch}?t={int(reloaded_at)}")
    wait_until(
        lambda: watched(lecture, doctor) >= reloaded_at - 0.3, 30, "the kept heartbeats to arrive"
    )
    expect(page.locator("#head-count-button")).to_have_text("People watching 12")
    play(page)
    page.evaluate(f"{VIDEO}.playbackRate = 2")  # the rest at double speed: still all counted
    until(page, f"{VIDEO}.ended", timeout=60_000)
    expect(page.get_by_role("dialog")).to_be_hidden()  # asked once per lecture
    until(page, "window.clinicastPlayer.attendance.queued() === 0", timeout=10_000)

    context.close()

    clinic = coordinator_line(browser, portal, lecture, "139901001001")
    assert lecture.length_s - 0.5 <= clinic["watched_s"] <= lecture.length_s + 0.5
    assert clinic["vod_s"] == clinic["watched_s"]
    assert clinic["live_s"] == 0
    assert clinic["head_count"] == 12
    assert clinic["viewers"] == 1
    assert clinic["attended"]
    assert clinic["share"] >= 0.97
    assert re.fullmatch(r"\d+|audio", clinic["main_rendition"])
    figures = lecture.figures()
    user = figures.users[doctor]
    assert user.watched_s == pytest.approx(clinic["watched_s"])
    assert user.head_count == 12
    assert figures.clinics[user.clinic_id or 0].sessions == 2  # before and after the reload


def test_head_count_dialog_on_a_phone_in_chinese_is_checked_and_remembered(
    browser: Browser, portal: LivePortal, lecture: Lecture
) -> None:
    doctor = user_id(portal, "doc.phone")
    context = browser.new_context(viewport=VIEWPORTS["phone"], locale="zh-CN")  # type: ignore[arg-type]
    context.add_init_script(FAST_HEARTBEATS)
    page = sign_in(context, portal.base_url, "doc.phone", "zh-CN")
    page.goto(f"{portal.base_url}/lectures/{lecture.id}/watch")
    play(page)
    dialog = page.get_by_role("dialog", name="有几位同事和您一起观看？")
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    assert box is not None
    assert 0 <= box["x"] <= box["x"] + box["width"] <= 390
    save = dialog.get_by_role("button", name="保存")
    expect(save).to_be_in_viewport()
    expect(dialog.get_by_role("button", name="暂不填写")).to_be_in_viewport()
    screenshot(page, "head-count-dialog-zh")
    page.set_viewport_size(VIEWPORTS["phone"])  # type: ignore[arg-type]

    for wrong in ("0", "501", "2.5", ""):
        page.locator("#head-count-input").fill(wrong)
        save.click()
        expect(dialog.get_by_role("alert")).to_have_text("请输入 1 到 500 之间的整数。")
    page.locator("#head-count-input").fill("3")
    save.click()
    expect(dialog).to_be_hidden()
    button = page.locator("#head-count-button")
    expect(button).to_have_text("观看人数 3")
    assert button.bounding_box()["x"] + button.bounding_box()["width"] <= 390  # type: ignore[index]
    wait_until(
        lambda: (f := lecture.figures().users.get(doctor)) is not None and f.head_count == 3,
        30,
        "a heartbeat with the head count",
    )

    button.click()  # editable later, from the player's controls
    expect(dialog).to_be_visible()
    expect(page.locator("#head-count-input")).to_have_value("3")
    dialog.get_by_role("button", name="暂不填写").click()
    expect(dialog).to_be_hidden()
    assert page.evaluate(f"localStorage.getItem('clinicast.headCount.{lecture.id}')") == "3"
    page.screenshot(path=str(SCREENSHOTS / "head-count-set-zh-phone.png"))
    assert Path(SCREENSHOTS / "head-count-set-zh-phone.png").exists()
    context.close()


def test_a_heartbeat_the_portal_rejects_leaves_the_queue_and_the_rest_of_its_batch_counts(
    browser: Browser, portal: LivePortal, lecture: Lecture
) -> None:
    """What an earlier page left in storage goes on the next load; one heartbeat the portal
    refuses (beyond the lecture's end) is dropped, not retried for ever, and does not cost the
    valid heartbeat sent with it."""
    doctor = user_id(portal, "doc.queue")
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="en-US")  # type: ignore[arg-type]
    page = sign_in(context, portal.base_url, "doc.queue", "en")
    earlier = {
        "session_id": "earlier-page-0001", "lecture_id": lecture.id, "mode": "vod",
        "playing": True, "rendition": "360", "stalls": 0, "stalled": 0.0, "head_count": 4,
        "sent_at": "2026-01-05T08:00:00.000Z",
    }  # fmt: skip
    kept = [
        {**earlier, "seq": 0, "start": 0.0, "end": 5.0},
        {**earlier, "seq": 1, "start": 5.0, "end": lecture.length_s + 3600},
    ]
    page.evaluate(
        """([owner, heartbeats]) => heartbeats.forEach(h => localStorage.setItem(
             `clinicast.heartbeat.${owner}.${h.session_id}.${h.seq}`, JSON.stringify(h)))""",
        [doctor, kept],
    )
    with page.expect_response(re.compile(r"/api/v1/attendance/heartbeats$")) as answer:
        page.goto(f"{portal.base_url}/lectures/{lecture.id}/watch")
    result = answer.value.json()
    assert (result["accepted"], result["duplicates"]) == (1, 0)
    assert [(r["index"], r["code"]) for r in result["rejected"]] == [(1, "beyond_length")]
    until(page, "window.clinicastPlayer.attendance.queued() === 0", timeout=10_000)
    user = lecture.figures().users[doctor]
    assert user.watched_s == 5.0
    assert user.head_count == 4
    context.close()


def test_two_tabs_share_one_queue_through_an_outage_and_lose_nothing(
    browser: Browser, portal: LivePortal, lecture: Lecture, link: Link
) -> None:
    """Two tabs of one browser keep their heartbeats in the same storage: each is sent once
    the link is back, by whichever tab sends first, and both sessions count."""
    doctor = user_id(portal, "doc.tabs")
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="en-US")  # type: ignore[arg-type]
    context.add_init_script(FAST_HEARTBEATS)
    base_url = f"http://127.0.0.1:{link.port}"
    first = sign_in(context, base_url, "doc.tabs", "en")
    second = context.new_page()
    for tab in (first, second):
        tab.goto(f"{base_url}/lectures/{lecture.id}/watch")
        play(tab)
        until(tab, f"{VIDEO}.currentTime > 1", timeout=30_000)
    link.cut()
    context.set_offline(True)
    for tab in (first, second):
        until(tab, "window.clinicastPlayer.attendance.queued() >= 4", timeout=20_000)
    link.restore()
    context.set_offline(False)
    for tab in (first, second):
        until(tab, "window.clinicastPlayer.attendance.queued() === 0", timeout=15_000)
    reached = min(position(first), position(second))
    figures = lecture.figures()
    assert figures.clinics[figures.users[doctor].clinic_id or 0].sessions == 2
    assert figures.users[doctor].watched_s >= reached - 2.5  # a heartbeat every 2 s
    context.close()


def test_stalls_on_a_link_slower_than_the_rendition_are_reported(
    browser: Browser, portal: LivePortal, lecture: Lecture, link: Link
) -> None:
    """A rung the link cannot carry stalls playback: the heartbeats count the stalls and the
    seconds stalled, under the rendition that was playing; the coordinator sees them."""
    doctor = user_id(portal, "doc.slow")
    context = browser.new_context(viewport=VIEWPORTS["desktop"], locale="en-US")  # type: ignore[arg-type]
    context.add_init_script(FAST_HEARTBEATS)
    base_url = f"http://127.0.0.1:{link.port}"
    page = sign_in(context, base_url, "doc.slow", "en")
    link.media_rate = 4_000  # bytes per second: 32 kbit/s, below any video rung
    page.goto(f"{base_url}/lectures/{lecture.id}/watch")
    height = page.locator("#quality option").nth(1).get_attribute("value")  # a video rung
    assert height is not None
    assert height.isdigit()
    page.locator("#quality").select_option(height)
    play(page)
    page.get_by_role("dialog").get_by_role("button", name="Not now").click()

    def stalled() -> bool:
        figures = lecture.figures().users.get(doctor)
        clinic = lecture.figures().clinics.get(figures.clinic_id or 0) if figures else None
        return clinic is not None and clinic.stalls >= 1 and clinic.stalled_s >= 1.0

    wait_until(stalled, 90, "a stall to be reported")
    link.media_rate = None
    user = lecture.figures().users[doctor]
    clinic = lecture.figures().clinics[user.clinic_id or 0]
    assert clinic.main_rendition == height
    assert clinic.stalls_per_hour > 0
    assert 0 < clinic.stalled_share < 1
    context.close()
