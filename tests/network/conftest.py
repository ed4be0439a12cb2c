"""A real portal with one published camera-like lecture, for the shaped-link tests."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.speech import resolve_model
from samples.media import high_motion_clip
from tests.support.portal import LivePortal

PASSWORD = "reach-pass-1"
SPECIALIST, DOCTOR = "spec.reach", "doc.reach"
TOWNSHIP = "139901002000"  # 东坝镇
VILLAGE = "139901002002"  # 余桥村: declares 800 kbit/s


def needs_root() -> None:
    if os.geteuid() != 0:  # pragma: no cover - CI and this machine run as root
        pytest.fail("the shaped-link tests make network namespaces: run them as root")


def api_client(portal: LivePortal, username: str) -> httpx.Client:
    client = httpx.Client(base_url=portal.base_url, timeout=60)
    client.get("/login")
    token = client.cookies.get("csrftoken", "")
    signed = client.post(
        "/login", data={"username": username, "password": PASSWORD, "_csrf_token": token}
    )
    assert signed.status_code in (200, 303), signed.text
    client.headers["x-csrftoken"] = client.cookies.get("csrftoken") or ""
    return client


def publish(portal: LivePortal, clip: Path, title: str) -> int:
    """Create a lecture for the doctor's clinic, upload ``clip`` through the API, wait until
    it is published."""
    client = api_client(portal, SPECIALIST)
    try:
        return _publish(client, portal, clip, title)
    finally:
        client.close()


def _publish(client: httpx.Client, portal: LivePortal, clip: Path, title: str) -> int:
    with contextlib.closing(sqlite3.connect(portal.data_dir / "clinicast.sqlite")) as db:
        (township,) = db.execute(
            "SELECT id FROM clinic WHERE region_code = ?", (TOWNSHIP,)
        ).fetchone()
    created = client.post(
        "/api/v1/lectures",
        json={
            "title": title,
            "language": "zh",
            "audience": [{"clinic_id": township, "include_subtree": True}],
        },
    )
    assert created.status_code in (200, 201), created.text
    lecture = int(created.json()["id"])
    data = clip.read_bytes()
    api = f"/api/v1/lectures/{lecture}/upload"
    state = client.post(api, json={"filename": clip.name, "size": len(data)}).json()
    size = state["part_size"]
    for number in range(1, state["part_count"] + 1):
        part = data[(number - 1) * size : number * size]
        assert client.put(f"{api}/{state['upload_id']}/parts/{number}", content=part).is_success
    assert client.post(f"{api}/{state['upload_id']}/complete").is_success
    deadline = time.monotonic() + 300
    while client.get(f"/api/v1/lectures/{lecture}").json()["status"] != "published":
        assert time.monotonic() < deadline, client.get(f"/api/v1/lectures/{lecture}/pipeline").text
        time.sleep(1)
    return lecture


@pytest.fixture(scope="session")
def reach_portal(
    tmp_path_factory: pytest.TempPathFactory, speech_data_dir: Path
) -> Iterator[tuple[LivePortal, dict[str, int]]]:
    needs_root()
    model = resolve_model("base", speech_data_dir)
    extra = {"CLINICAST_SPEECH__MODEL": str(model), "CLINICAST_MEDIA__PRESET": "ultrafast"}
    with LivePortal(tmp_path_factory.mktemp("reach") / "data", extra) as portal:
        portal.clinicast("seed")
        for name, role, clinic in (
            (SPECIALIST, "specialist", "139901000001"),
            (DOCTOR, "doctor", VILLAGE),
        ):
            portal.clinicast(
                "users", "create", name, "--role", role, "--clinic", clinic, "--password", PASSWORD
            )
        clips = tmp_path_factory.mktemp("reach-clips")
        camera = high_motion_clip(clips / "camera.mp4", seconds=40, width=1280, height=720)
        yield portal, {"camera": publish(portal, camera, "Camera lecture")}


def probe_command(base: str, lecture: int, seconds: float, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "tests.support.reach_probe", "--base", base,
        "--lecture", str(lecture), "--username", DOCTOR, "--password", PASSWORD,
        "--seconds", str(seconds), *extra,
    ]  # fmt: skip
