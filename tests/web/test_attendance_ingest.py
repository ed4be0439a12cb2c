"""``POST /api/v1/attendance/heartbeats`` through Litestar's test client on a seeded portal
(SQLite, real SeaweedFS): per-item rejections beside accepted heartbeats, idempotency under a
repeated batch, aggregates equal to the union played, and the request-level refusals (malformed
body, not signed in, no CSRF header)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.support.web import Portal, lecture_json, open_portal
from training.attendance.models import Heartbeat
from training.attendance.services import AttendanceAccounting
from training.base import utcnow

URL = "/api/v1/attendance/heartbeats"


@pytest.fixture(scope="module")
def portal(
    tmp_path_factory: pytest.TempPathFactory, embedded_s3: EmbeddedSeaweedFS
) -> Iterator[Portal]:
    with open_portal(tmp_path_factory.mktemp("attendance-api"), embedded_s3) as portal:
        # A 60-minute lecture for township 1 (the village doctor's), and a 30-minute one.
        owner = portal.callers["owner"]
        for name, minutes in (("lecture", 60), ("short", 30)):
            created = owner.post(
                "/api/v1/lectures", json=lecture_json(portal, duration_minutes=minutes)
            )
            assert created.status_code == 201, created.text
            portal.ids[name] = created.json()["id"]
        yield portal


def beat(
    portal: Portal, session_id: str, seq: int, start: float, end: float, **changes: Any
) -> dict[str, Any]:
    return {"session_id": session_id, "seq": seq, "lecture_id": portal.ids["lecture"],
            "mode": "vod", "start": start, "end": end, "playing": True, "rendition": "360",
            "stalls": 0, "stalled": 0.0, "head_count": 1,
            "sent_at": utcnow().isoformat().replace("+00:00", "Z"), **changes}  # fmt: skip


def send(portal: Portal, role: str, heartbeats: list[Any]) -> dict[str, Any]:
    response = portal.callers[role].post(URL, json={"heartbeats": heartbeats})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_batch_keeps_its_valid_heartbeats_and_names_each_rejected_one(portal: Portal) -> None:
    later = (utcnow() + timedelta(hours=2)).isoformat()
    body = send(portal, "doctor_in", [
        beat(portal, "mixed-batch-1", 0, 0, 15),
        beat(portal, "mixed-batch-1", 1, 15, 3900),  # a 60-minute lecture
        beat(portal, "mixed-batch-1", 2, 15, 30, sent_at=later),
        beat(portal, "mixed-batch-1", 3, 15, 30, head_count=501),
        beat(portal, "other-session", 0, 15, 30, lecture_id=portal.ids["short"]),
        beat(portal, "mixed-batch-1", 5, 15, 30),
    ])  # fmt: skip
    assert (body["accepted"], body["duplicates"]) == (3, 0)
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [
        (1, "beyond_length"),
        (2, "in_the_future"),
        (3, "invalid"),
    ]
    assert all(r["message"] for r in body["rejected"])


def test_a_doctor_of_another_township_is_not_in_the_audience(portal: Portal) -> None:
    body = send(portal, "doctor_out", [beat(portal, "outsider-001", 0, 0, 15)])
    assert body == {
        "accepted": 0,
        "duplicates": 0,
        "rejected": [
            {"index": 0, "code": "not_in_audience",
             "message": f"lecture {portal.ids['lecture']} is not one doc-out may watch"}
        ],
    }  # fmt: skip


def test_a_repeated_batch_counts_once_and_the_aggregate_is_the_union(portal: Portal) -> None:
    # Playback with a rewind (60 → 30) and a seek (to 300), then the same batch again (the
    # answer was lost) and an overlapping later one, out of order.
    first = [beat(portal, "replayed-0001", 0, 0, 15), beat(portal, "replayed-0001", 1, 15, 30),
             beat(portal, "replayed-0001", 2, 30, 60), beat(portal, "replayed-0001", 3, 30, 45)]  # fmt: skip
    assert send(portal, "doctor_in", first)["accepted"] == 4
    repeated = send(portal, "doctor_in", first)
    assert (repeated["accepted"], repeated["duplicates"], repeated["rejected"]) == (0, 4, [])
    later = [beat(portal, "replayed-0001", 5, 300, 315, head_count=3),
             beat(portal, "replayed-0001", 4, 45, 60), first[1]]  # fmt: skip
    third = send(portal, "doctor_in", later)
    assert (third["accepted"], third["duplicates"]) == (2, 1)
    with portal.services.sessions() as session:
        figures = AttendanceAccounting(session).lecture_figures(portal.ids["lecture"])
    village = portal.region("139901001001")
    assert figures.clinics[village].vod_s >= 75.0
    user = next(u for u in figures.users.values() if u.clinic_id == village)
    # The mixed batch above may have run first (0–30): the union is the same either way.
    assert (user.vod_s, user.head_count) == (75.0, 3)


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"heartbeats": 5}', b"[]", b'{"beats": []}',
     b'{"heartbeats": [' + b",".join([b"{}"] * 501) + b"]}"],
    ids=["not-json", "not-a-list", "no-object", "no-heartbeats", "too-many"],
)  # fmt: skip
def test_a_malformed_body_is_400_and_stores_nothing(portal: Portal, body: bytes) -> None:
    response = portal.callers["doctor_in"].post(
        URL,
        content=body,
        headers={**portal.callers["doctor_in"].csrf, "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text


def test_an_item_that_is_not_a_heartbeat_is_rejected_alone(portal: Portal) -> None:
    body = send(portal, "doctor_in", [7, {"seq": "x"}, beat(portal, "lonely-0001", 0, 0, 5)])
    assert body["accepted"] == 1
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(0, "invalid"), (1, "invalid")]


def test_heartbeats_need_a_signed_in_user_and_the_csrf_header(portal: Portal) -> None:
    batch = {"heartbeats": [beat(portal, "no-csrf-0001", 0, 0, 15)]}
    assert portal.callers["anon"].post(URL, json=batch).status_code == 401
    doctor = portal.callers["doctor_in"]
    assert doctor.post(URL, json=batch, headers={}).status_code == 403
    assert doctor.post(URL, json=batch, headers={"x-csrftoken": "forged"}).status_code == 403
    with portal.services.sessions() as session:
        stored = session.exec(select(Heartbeat).where(Heartbeat.session_id == "no-csrf-0001"))
        assert stored.all() == []


def test_the_openapi_schema_describes_the_heartbeat_batch(portal: Portal) -> None:
    response = portal.callers["admin"].get("/schema/openapi.json")
    assert response.status_code == 200, response.text[:300]
    schema = response.json()
    operation = schema["paths"][URL]["post"]
    assert "requestBody" in operation
    names = set(schema["components"]["schemas"])
    assert {"HeartbeatBatch", "HeartbeatsReceived", "RejectedOut"} <= names
