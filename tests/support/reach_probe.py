"""A village doctor's browser, measured: run inside a shaped link's namespace, it signs in,
opens the watch page from a fresh profile (a first visit), plays for a while and prints what
the doctor got as JSON on stdout::

    ip netns exec <ns> python -m tests.support.reach_probe --base http://10.231.1.1:8080 \
        --lecture 1 --username village-doctor --password ... --seconds 60 [--repeat-visit]

Fields: page_load_s (navigation to the load event), first_frame_s (the doctor pressing play,
right after the load event, to the first frame playing), stalls and stalled_s (after the first frame), heights (the picture
heights played, 0 for audio only, in order, with the seconds each was on screen), switches,
page_bytes and media_bytes (on the wire, as Chromium's network stack counted them),
static_fetches_on_repeat (with --repeat-visit: scripts and styles fetched again on a second
visit, 0 when caching works), and timeline (epoch seconds of playing/waiting events, so an
outage made from outside can be lined up with playback).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from typing import Any

from playwright.sync_api import BrowserContext, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip

# Media events do not bubble, but a capturing listener on the document sees them all.
WATCHER = """
window.__reach = {events: [], heights: []};
for (const name of ['playing', 'waiting', 'ended']) {
  document.addEventListener(name, (e) => {
    if (e.target.tagName === 'VIDEO' || e.target.tagName === 'AUDIO')
      window.__reach.events.push([name, Date.now() / 1000, e.target.currentTime]);
  }, true);
}
setInterval(() => {
  const v = document.querySelector('video');
  if (v && !v.paused && v.readyState >= 2)
    window.__reach.heights.push([Date.now() / 1000, v.videoHeight]);
}, 500);
"""


def sign_in(context: BrowserContext, base: str, username: str, password: str) -> None:
    """Through the form's endpoint with the context's cookie jar (the browser's cache stays
    empty: the watch page is a first visit)."""
    context.request.get(f"{base}/login")
    token = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    response = context.request.post(
        f"{base}/login",
        form={"username": username, "password": password, "_csrf_token": token},
        max_redirects=0,
    )
    if response.status not in (302, 303):
        raise SystemExit(f"sign-in failed: {response.status}")


def confirm_head_count(page: Page) -> None:
    """Answer the player's "how many colleagues are watching with you?" with the default,
    if it asks."""
    dialog = page.locator("dialog[open]")
    try:
        dialog.first.wait_for(timeout=5_000)
    except PlaywrightTimeout:
        return
    dialog.first.locator("button[type=submit], button[value=ok], button").first.click()


def count_bytes(page: Page) -> dict[str, Any]:
    """Bytes on the wire per request, via the DevTools protocol."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    tally: dict[str, Any] = {"urls": {}, "page": 0, "media": 0, "cached": set(), "network": set()}

    def received(event: dict[str, Any]) -> None:
        response = event["response"]
        tally["urls"][event["requestId"]] = response["url"]
        cached = response.get("fromDiskCache") or response.get("fromMemoryCache")
        (tally["cached"] if cached else tally["network"]).add(response["url"])

    def finished(event: dict[str, Any]) -> None:
        url = tally["urls"].get(event["requestId"], "")
        tally["media" if "/media/" in url else "page"] += int(event["encodedDataLength"])

    cdp.on("Network.responseReceived", received)
    cdp.on("Network.loadingFinished", finished)
    return tally


def summarise(page: Page, loaded_at: float, ended_at: float) -> dict[str, Any]:
    data = page.evaluate("window.__reach")
    events = data["events"]
    playing = [t for name, t, position in events if name == "playing"]
    first = playing[0] if playing else None
    stalls, stalled, waiting_since = 0, 0.0, None
    for name, t, _ in events:
        if first is None or t < first:
            continue
        if name == "waiting" and waiting_since is None:
            stalls, waiting_since = stalls + 1, t
        elif name == "playing" and waiting_since is not None:
            stalled, waiting_since = stalled + t - waiting_since, None
    if waiting_since is not None:
        stalled += ended_at - waiting_since
    heights: list[list[float]] = []
    for _, height in data["heights"]:
        if heights and heights[-1][0] == height:
            heights[-1][1] += 0.5
        else:
            heights.append([height, 0.5])
    return {
        "first_frame_s": None if first is None else round(first - loaded_at, 2),
        "stalls": stalls,
        "stalled_s": round(stalled, 2),
        "heights": heights,
        "switches": max(0, len(heights) - 1),
        "timeline": events,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--lecture", type=int, required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeat-visit", action="store_true")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    watch = f"{args.base}/lectures/{args.lecture}/watch"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=args.chromium, headless=True, args=FLAGS
        )
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
        context.add_init_script(WATCHER)
        sign_in(context, args.base, args.username, args.password)
        page = context.new_page()
        tally = count_bytes(page)
        page.goto(watch, wait_until="load", timeout=180_000)
        page.wait_for_selector("video")
        loaded_at = time.time()  # the doctor presses play
        page.evaluate("document.querySelector('video').play().catch(() => {})")
        confirm_head_count(page)
        page_load = page.evaluate(
            "(() => { const t = performance.getEntriesByType('navigation')[0];"
            " return t.loadEventStart / 1000; })()"
        )
        deadline = loaded_at + args.seconds
        while time.time() < deadline:
            page.wait_for_timeout(500)
        result = {"page_load_s": round(page_load, 2), **summarise(page, loaded_at, time.time())}
        result |= {"page_bytes": tally["page"], "media_bytes": tally["media"]}
        if args.repeat_visit:
            again = context.new_page()
            repeat = count_bytes(again)
            again.goto(watch, wait_until="load", timeout=180_000)
            static = [u for u in repeat["network"] if "/static/" in u or "/assets/" in u]
            result["static_fetches_on_repeat"] = len(static)
            result["repeat_page_bytes"] = repeat["page"]
        browser.close()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
