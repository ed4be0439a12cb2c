"""A village doctor on a shaped 0.5 Mbit/s link with a 150 ms round trip, in Chromium inside a
network namespace, watching a camera lecture through the real watch page (bench/reach.py runs
the whole table of links and lectures; this is its short version that guards behaviour)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.network.conftest import probe_command
from tests.support.portal import LivePortal
from tests.support.shaped_link import LinkProfile, ShapedLink

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_half_a_megabit_plays_without_stalls_and_a_light_page(
    reach_portal: tuple[LivePortal, dict[str, int]],
) -> None:
    portal, lectures = reach_portal
    profile = LinkProfile("0.5 Mbit/s", rate_kbit=500, rtt_ms=150)
    with ShapedLink(profile, target_port=portal.web_port) as link:
        probe = link.popen(
            probe_command(link.url(), lectures["camera"], 30, "--repeat-visit"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = probe.communicate(timeout=300)
    assert probe.returncode == 0, err.decode(errors="replace")[-3000:]
    result = json.loads(out)
    print(json.dumps(result | {"timeline": len(result["timeline"])}, indent=1))
    # The goals at 0.5 Mbit/s / 150 ms (issue 13): first frame within 5 s of pressing play on a
    # first visit, no stall, camera video at 240p or more, the watch page under 150 kB on the
    # wire before media, and a repeat visit fetches no script or style again.
    assert result["first_frame_s"] is not None, result
    assert result["first_frame_s"] <= 5.0, result
    assert result["stalls"] == 0, result
    assert result["heights"], result
    assert min(height for height, _ in result["heights"]) >= 240, result
    assert result["page_bytes"] <= 150_000, result
    assert result["static_fetches_on_repeat"] == 0, result
