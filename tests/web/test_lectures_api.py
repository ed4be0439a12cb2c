"""The lecture and upload API, and the lecture pages, through Litestar's test client against
real SeaweedFS and SQLite: who may call what (a table of every role × every endpoint), CSRF,
resumable uploads of a real recording, and their limits."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import imageio_ffmpeg
import pytest

from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.support.web import MAX_UPLOAD_MB, ROLES, Portal, lecture_json, open_portal
from training.jobs.registry import FailureCause
from training.jobs.services import JobService
from training.lectures.services import LectureService
from training.media.services import PART_SIZE, MediaService


@pytest.fixture(scope="module")
def portal(
    tmp_path_factory: pytest.TempPathFactory, embedded_s3: EmbeddedSeaweedFS
) -> Iterator[Portal]:
    with open_portal(tmp_path_factory.mktemp("lectures-api"), embedded_s3) as portal:
        _prepare_matrix_lecture(portal)
        yield portal


def _prepare_matrix_lecture(portal: Portal) -> None:
    """A lecture for township 1 by "specialist": its first recording failed the probe (bad
    input), a second upload is in progress."""
    owner = portal.callers["owner"]
    lecture = owner.post("/api/v1/lectures", json=lecture_json(portal))
    lecture_id = lecture.json()["id"]
    api = f"/api/v1/lectures/{lecture_id}"
    first = owner.post(f"{api}/upload", json={"filename": "notes.txt", "size": 5})
    upload_id = first.json()["upload_id"]
    owner.put(f"{api}/upload/{upload_id}/parts/1", content=b"hello")
    assert owner.post(f"{api}/upload/{upload_id}/complete").status_code == 200
    fail_probe(portal, lecture_id, "not a media file: no audio or video stream")
    second = owner.post(f"{api}/upload", json={"filename": "matrix.bin", "size": 10})
    portal.ids.update(lecture=lecture_id, upload=second.json()["upload_id"])


def fail_probe(portal: Portal, lecture_id: int, error: str) -> None:
    """What a worker does with an upload that is not media: the probe fails for good."""
    with portal.services.sessions() as session:
        jobs = JobService(session)
        steps = MediaService(session, portal.services.blobs).pipeline(lecture_id)
        assert steps[0].job_id is not None
        lease = jobs.claim(steps[0].job_id, "test-worker")
        assert lease is not None
        jobs.fail(lease, error, retry_backoff=0, cause=FailureCause.INPUT)


# --- who may call what --------------------------------------------------------------------

OK_FOR = {
    "signed_in": {"admin", "coordinator", "owner", "other_specialist", "doctor_in", "doctor_out"},
    "schedulers": {"admin", "owner", "other_specialist"},
    "audience": {"admin", "coordinator", "owner", "doctor_in"},
    "editors": {"admin", "owner"},
    "admins": {"admin"},
}


class Endpoint(NamedTuple):
    name: str
    method: str
    url: str
    body: Any  # "form", "lecture", bytes, a JSON value or None
    who: str  # a key of OK_FOR
    allowed: int  # the status for those who may
    anonymous: int  # the status without signing in: pages send to sign-in, the API says 401


ENDPOINTS = [
    Endpoint("library page", "GET", "/lectures", None, "signed_in", 200, 303),
    Endpoint("new lecture form", "GET", "/lectures/new", None, "schedulers", 200, 303),
    Endpoint("create lecture form", "POST", "/lectures/new", "form", "schedulers", 303, 303),
    Endpoint("lecture page", "GET", "/lectures/{lecture}", None, "audience", 200, 303),
    Endpoint("create lecture api", "POST", "/api/v1/lectures", "lecture", "schedulers", 201, 401),
    Endpoint("pipeline", "GET", "/api/v1/lectures/{lecture}/pipeline", None, "editors", 200, 401),
    Endpoint("begin upload", "POST", "/api/v1/lectures/{lecture}/upload", {"filename": "matrix.bin", "size": 10}, "editors", 200, 401),
    Endpoint("upload state", "GET", "/api/v1/lectures/{lecture}/upload", None, "editors", 200, 401),
    Endpoint("upload part", "PUT", "/api/v1/lectures/{lecture}/upload/{upload}/parts/1", b"0123456789", "editors", 200, 401),
    # an unknown upload id: 404 for those who may, 403 before it is even looked up for others
    Endpoint("complete upload", "POST", "/api/v1/lectures/{lecture}/upload/no-such-upload/complete", None, "editors", 404, 401),
    Endpoint("restart pipeline", "POST", "/api/v1/lectures/{lecture}/pipeline/restart", None, "admins", 200, 401),
]  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[endpoint.name for endpoint in ENDPOINTS])
def test_every_role_gets_the_expected_status_from_every_endpoint(
    portal: Portal, role: str, endpoint: Endpoint
) -> None:
    client = portal.callers[role]
    kwargs: dict[str, Any] = {"headers": client.csrf, "follow_redirects": False}
    if endpoint.body == "form":
        kwargs["data"] = {"title": "表单课程", "audience": str(portal.region("139901000000"))}
    elif endpoint.body == "lecture":
        kwargs["json"] = lecture_json(portal)
    elif isinstance(endpoint.body, bytes):
        kwargs["content"] = endpoint.body
    elif endpoint.body is not None:
        kwargs["json"] = endpoint.body
    response = client.request(endpoint.method, endpoint.url.format(**portal.ids), **kwargs)
    if role == "anon":
        expected = endpoint.anonymous
    else:
        expected = endpoint.allowed if role in OK_FOR[endpoint.who] else 403
    assert response.status_code == expected, response.text[:300]


def test_unsafe_requests_without_the_csrf_header_are_refused(portal: Portal) -> None:
    owner = portal.callers["owner"]
    api = f"/api/v1/lectures/{portal.ids['lecture']}"
    no_token: dict[str, str] = {}
    begin = owner.post(f"{api}/upload", json={"filename": "a.mp4", "size": 10}, headers=no_token)
    assert begin.status_code == 403
    part = owner.put(
        f"{api}/upload/{portal.ids['upload']}/parts/1", content=b"0" * 10, headers=no_token
    )
    assert part.status_code == 403
    assert (
        owner.post("/api/v1/lectures", json=lecture_json(portal), headers=no_token).status_code
        == 403
    )
    assert (
        owner.post(
            f"{api}/upload",
            json={"filename": "a.mp4", "size": 10},
            headers={"x-csrftoken": "forged"},
        ).status_code
        == 403
    )


def test_a_failed_step_shows_its_error_and_an_admin_restarts_it(
    portal: Portal, lecture_api: str
) -> None:
    owner, admin = portal.callers["owner"], portal.callers["admin"]
    upload_id = begin(portal, lecture_api, "slides.pptx", 4).json()["upload_id"]
    put_part(portal, lecture_api, upload_id, 1, b"PK\x03\x04")
    owner.post(f"{lecture_api}/upload/{upload_id}/complete")
    fail_probe(
        portal, int(lecture_api.rsplit("/", 1)[1]), "not a media file: no audio or video stream"
    )
    pipeline = owner.get(f"{lecture_api}/pipeline").json()
    assert [step["label"] for step in pipeline["steps"]] == [
        "Check the recording", "Transcode for every link", "Transcribe speech", "Publish"
    ]  # fmt: skip
    probe = pipeline["steps"][0]
    assert (probe["status"], probe["error"]) == (
        "failed",
        "not a media file: no audio or video stream",
    )
    assert pipeline["watch_url"] is None
    # The lecture says it failed, why, and what to do, in the user's language (Chinese here).
    assert pipeline["lecture_status"] == "failed"
    failure = pipeline["failure"]
    assert (failure["step"], failure["cause"]) == ("media.probe", "input")
    assert (failure["message"], failure["reason"]) == (
        "录像文件无法使用。",
        "not a media file: no audio or video stream",
    )
    assert "重新上传" in failure["action"]
    restarted = admin.post(f"{lecture_api}/pipeline/restart").json()
    assert restarted["failure"] is None
    assert (restarted["steps"][0]["status"], restarted["lecture_status"]) == (
        "queued",
        "processing",
    )
    again = admin.post(f"{lecture_api}/pipeline/restart")
    assert (again.status_code, again.json()["detail"]) == (
        400,
        f"lecture {restarted['lecture_id']} has no failed step to restart",
    )


# --- uploads ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One second of test pattern and a tone: a real, small lecture recording."""
    path = tmp_path_factory.mktemp("media") / "lecture.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=15:duration=1",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:v", "libx264", "-preset", "ultrafast",
         "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path


@pytest.fixture
def lecture_api(portal: Portal) -> str:
    """A new lecture of "specialist": the API path of it."""
    owner = portal.callers["owner"]
    response = owner.post("/api/v1/lectures", json=lecture_json(portal))
    assert response.status_code == 201
    return f"/api/v1/lectures/{response.json()['id']}"


def begin(portal: Portal, api: str, filename: str, size: int) -> Any:
    owner = portal.callers["owner"]
    return owner.post(f"{api}/upload", json={"filename": filename, "size": size})


def put_part(portal: Portal, api: str, upload_id: str, number: int, data: bytes) -> Any:
    owner = portal.callers["owner"]
    return owner.put(f"{api}/upload/{upload_id}/parts/{number}", content=data)


def test_uploading_a_recording_stores_it_and_queues_the_probe(
    portal: Portal, lecture_api: str, recording: Path
) -> None:
    data = recording.read_bytes()
    state = begin(portal, lecture_api, "讲座录像.mp4", len(data)).json()
    assert (state["part_size"], state["part_count"], state["parts"]) == (PART_SIZE, 1, {})
    assert put_part(portal, lecture_api, state["upload_id"], 1, data).json() == {
        "part_number": 1,
        "size": len(data),
    }
    owner = portal.callers["owner"]
    pipeline = owner.post(f"{lecture_api}/upload/{state['upload_id']}/complete").json()
    assert pipeline["lecture_status"] == "processing"
    assert [step["status"] for step in pipeline["steps"]] == [
        "queued",
        "pending",
        "pending",
        "pending",
    ]
    assert owner.get(f"{lecture_api}/upload").status_code == 404  # nothing in progress now
    lecture_id = int(lecture_api.rsplit("/", 1)[1])
    with portal.services.sessions() as session:
        asset = MediaService(session, portal.services.blobs).asset(lecture_id)
        assert asset is not None
        assert asset.source_key is not None
    assert portal.services.blobs.get_bytes(asset.source_key) == data


def test_an_empty_file_is_refused(portal: Portal, lecture_api: str) -> None:
    response = begin(portal, lecture_api, "empty.mp4", 0)
    assert (response.status_code, response.json()["detail"]) == (400, "the file is empty")


def test_a_file_over_the_size_limit_is_refused_with_the_limit(
    portal: Portal, lecture_api: str
) -> None:
    response = begin(portal, lecture_api, "huge.mp4", MAX_UPLOAD_MB * 1024 * 1024 + 1)
    assert response.status_code == 400
    assert f"the limit is {MAX_UPLOAD_MB} MB" in response.json()["detail"]


def test_a_part_of_the_wrong_size_is_refused(portal: Portal, lecture_api: str) -> None:
    upload_id = begin(portal, lecture_api, "short.mp4", 10).json()["upload_id"]
    response = put_part(portal, lecture_api, upload_id, 1, b"12345")
    assert (response.status_code, response.json()["detail"]) == (
        400,
        "part 1 has 5 bytes; expected 10",
    )
    assert put_part(portal, lecture_api, upload_id, 2, b"0" * 10).status_code == 400  # no part 2


def test_a_part_larger_than_the_part_size_is_refused_before_it_is_read(
    portal: Portal, lecture_api: str
) -> None:
    upload_id = begin(portal, lecture_api, "big.mp4", 2 * PART_SIZE).json()["upload_id"]
    response = put_part(portal, lecture_api, upload_id, 1, b"0" * (PART_SIZE + 64 * 1024 + 1))
    assert response.status_code == 413


def test_completing_with_parts_missing_is_refused(portal: Portal, lecture_api: str) -> None:
    upload_id = begin(portal, lecture_api, "two-parts.mp4", PART_SIZE + 100).json()["upload_id"]
    assert put_part(portal, lecture_api, upload_id, 2, b"1" * 100).status_code == 200
    owner = portal.callers["owner"]
    response = owner.post(f"{lecture_api}/upload/{upload_id}/complete")
    assert (response.status_code, response.json()["detail"]) == (
        400,
        "parts [1] have not arrived yet",
    )


def test_beginning_again_with_the_same_file_resumes_with_the_parts_received(
    portal: Portal, lecture_api: str
) -> None:
    size = PART_SIZE + 100
    first = begin(portal, lecture_api, "resume.mp4", size).json()
    put_part(portal, lecture_api, first["upload_id"], 2, b"2" * 100)
    again = begin(portal, lecture_api, "resume.mp4", size).json()  # after a reload, say
    assert (again["upload_id"], again["parts"], again["received"]) == (
        first["upload_id"],
        {"2": 100},
        100,
    )
    assert portal.callers["owner"].get(f"{lecture_api}/upload").json()["parts"] == {"2": 100}
    put_part(portal, lecture_api, first["upload_id"], 1, b"1" * PART_SIZE)
    owner = portal.callers["owner"]
    assert owner.post(f"{lecture_api}/upload/{first['upload_id']}/complete").status_code == 200
    other = begin(portal, lecture_api, "other.mp4", size).json()  # another file: a new upload
    assert (other["upload_id"] != first["upload_id"], other["parts"]) == (True, {})


# --- scheduling through the API -----------------------------------------------------------


def test_a_start_without_offset_is_taken_in_the_users_time_zone(portal: Portal) -> None:
    owner = portal.callers["owner"]
    created = owner.post("/api/v1/lectures", json=lecture_json(portal, attendance_share=0.8))
    assert created.status_code == 201
    assert created.json()["scheduled_start"].startswith("2030-03-01T01:00:00")  # Asia/Shanghai
    with portal.services.sessions() as session:
        assert LectureService(session).get(created.json()["id"]).attendance_share == 0.8


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"title": ""}, "title"),
        ({"audience": []}, "audience"),
        ({"audience": [{"clinic_id": 999_999}]}, "no clinic with id 999999"),
        ({"attendance_share": 0}, "attendance_share"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"language": "fr"}, "language"),
    ],
)
def test_creating_a_lecture_with_bad_fields_is_refused(
    portal: Portal, changes: dict[str, Any], detail: str
) -> None:
    owner = portal.callers["owner"]
    response = owner.post("/api/v1/lectures", json=lecture_json(portal, **changes))
    assert response.status_code == 400
    assert detail in response.text


def test_openapi_documents_the_upload_api(portal: Portal) -> None:
    schema = portal.callers["anon"].get("/schema/openapi.json").json()
    assert "/api/v1/lectures/{lecture_id}/upload/{upload_id}/parts/{part_number}" in schema["paths"]
    assert {"UploadStateOut", "PipelineOut", "LectureCreate"} <= set(
        schema["components"]["schemas"]
    )


def test_options_on_the_lectures_collection_lists_both_methods(portal: Portal) -> None:
    """GET and POST /api/v1/lectures live in one controller: one OPTIONS route names both."""
    response = portal.callers["anon"].request("OPTIONS", "/api/v1/lectures")
    assert response.status_code == 204
    assert set(response.headers["allow"].split(", ")) == {"GET", "OPTIONS", "POST"}
