"""The scale-out mode as an operator deploys it, every part in its own process: an S3 service
started here with its own keys and no bucket yet, PostgreSQL, Redis or RabbitMQ as the broker,
`clinicast db upgrade`, `clinicast serve --no-worker`, a media worker (`-Q media,io,default`)
and a speech worker (`-Q speech`). A lecture is uploaded through the API, the media worker is
SIGKILLed mid-transcode, a second one takes over, and the lecture is published once; a doctor
then plays it through direct delivery (presigned S3 URLs), read by an independent HLS client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from infra.speech import resolve_model
from samples.media import lecture_clip
from tests.conftest import REPO, settings_env, wait_until
from tests.support.hls import decode_segment
from tests.support.services import (
    S3Service,
    free_port,
    fresh_postgres_database,
    rabbitmq_server,
    redis_server,
    seaweedfs_s3_service,
)

pytestmark = [pytest.mark.scaleout, pytest.mark.slow]
PASSWORD = "scale-out-pass-1"
LECTURE = 1  # a seeded lecture for the whole county
CLIP_SECONDS = 20


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    root = tmp_path_factory.mktemp("s3-service")
    with seaweedfs_s3_service(root, access_key="county-ops", secret_key="c0unty-s3cret-key") as s3:
        yield s3


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long and large enough that the transcode is still running when the test kills it."""
    path = tmp_path_factory.mktemp("clip") / "lecture.mp4"
    return lecture_clip(path, seconds=CLIP_SECONDS, width=1280, height=720, fps=25)


class Process:
    """One `clinicast` process of the deployment, in its own process group."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.log = name, logs / f"{name}.log"
        with self.log.open("wb") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "infra.cli", *args], env=env, cwd=REPO,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)

    def tail(self) -> str:
        return f"--- {self.name}\n" + self.log.read_text(errors="replace")[-2500:]


class Deployment:
    def __init__(self, root: Path, base_env: dict[str, str]) -> None:
        self.root, self.base_env = root, base_env
        self.processes: list[Process] = []
        self.web_port = free_port()

    def env(self, machine: str) -> dict[str, str]:
        """Each process as if on its own machine: its own data directory."""
        return settings_env({**self.base_env, "CLINICAST_DATA_DIR": str(self.root / machine),
                             "CLINICAST_WEB__PORT": str(self.web_port)})  # fmt: skip

    def clinicast(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "infra.cli", *args], env=self.env("ops"), cwd=REPO,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start(self, name: str, *args: str) -> Process:
        process = Process(name, list(args), self.env(name), self.root)
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(process.tail() for process in self.processes)


@pytest.fixture(params=["redis", "rabbitmq"])
def deployment(
    request: pytest.FixtureRequest,
    s3: S3Service,
    postgres_admin_url: str,
    speech_data_dir: Path,
    tmp_path: Path,
) -> Iterator[Deployment]:
    broker = redis_server() if request.param == "redis" else rabbitmq_server()
    with broker as broker_url, fresh_postgres_database(postgres_admin_url) as database_url:
        deployment = Deployment(tmp_path, {
            "CLINICAST_DATABASE__URL": database_url,
            "CLINICAST_JOBS__BROKER_URL": broker_url,
            "CLINICAST_STORAGE__ENDPOINT_URL": s3.endpoint_url,
            "CLINICAST_STORAGE__ACCESS_KEY": s3.access_key,
            "CLINICAST_STORAGE__SECRET_KEY": s3.secret_key,
            "CLINICAST_STORAGE__BUCKET": f"lectures-{request.param}",  # not created yet
            "CLINICAST_WEB__SECRET_KEY": "one-key-for-every-portal-instance",
            "CLINICAST_SPEECH__MODEL": str(resolve_model("base", speech_data_dir)),
            "CLINICAST_MEDIA__PRESET": "ultrafast",
            "CLINICAST_JOBS__HEARTBEAT_SECONDS": "0.5",
            "CLINICAST_JOBS__LEASE_SECONDS": "4",
            "CLINICAST_JOBS__SWEEP_SECONDS": "1",
            "CLINICAST_JOBS__RETRY_BACKOFF": "0.5",
        })  # fmt: skip
        try:
            yield deployment
        finally:
            for process in deployment.processes:
                process.kill(signal.SIGTERM)


def sign_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    client.get("/login")
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "_csrf_token": client.cookies.get("csrftoken", "")})  # fmt: skip
    assert response.status_code in (200, 303), response.text
    client.headers["x-csrftoken"] = client.cookies.get("csrftoken", "")
    return client


def upload(client: httpx.Client, clip: Path) -> None:
    data = clip.read_bytes()
    api = f"/api/v1/lectures/{LECTURE}/upload"
    state = client.post(api, json={"filename": clip.name, "size": len(data)}).json()
    size = state["part_size"]
    for number in range(1, state["part_count"] + 1):
        part = data[(number - 1) * size : number * size]
        sent = client.put(f"{api}/{state['upload_id']}/parts/{number}", content=part)
        assert sent.status_code == 200, sent.text
    done = client.post(f"{api}/{state['upload_id']}/complete")
    assert done.status_code == 200, done.text


def pipeline(client: httpx.Client) -> dict[str, Any]:
    return dict(client.get(f"/api/v1/lectures/{LECTURE}/pipeline").json())


def step(state: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(s for s in state["steps"] if s["kind"] == kind)


def uris(playlist: str) -> list[str]:
    """Every URI of a playlist: its lines that are not tags, and the URI="…" of its tags
    (EXT-X-MEDIA renditions, EXT-X-MAP init segments)."""
    found = []
    for line in playlist.splitlines():
        if 'URI="' in line:
            found.append(line.split('URI="', 1)[1].split('"', 1)[0])
        elif line and not line.startswith("#"):
            found.append(line)
    return found


def play(client: httpx.Client, s3: S3Service) -> dict[str, float]:
    """Play every rendition as a player would, with an HLS reader of the test's own:
    playlists from the portal, init and media segments straight from S3 (presigned), each
    segment decoded by PyAV. Returns each rendition's decoded seconds."""
    master = client.get(f"/lectures/{LECTURE}/hls/master.m3u8")
    assert master.status_code == 200, master.text
    played = {}
    for variant in uris(master.text):
        listed = client.get(variant)
        assert listed.status_code == 200, listed.text
        init_uri, *segment_uris = uris(listed.text)
        durations = [float(line[8:].split(",")[0]) for line in listed.text.splitlines()
                     if line.startswith("#EXTINF:")]  # fmt: skip
        for uri in (init_uri, *segment_uris):
            assert uri.startswith(s3.endpoint_url), uri  # segment bytes never pass the portal
        init = httpx.get(init_uri, timeout=30).content
        decoded = [
            decode_segment(
                init + httpx.get(uri, timeout=30).raise_for_status().content, uri, listed
            )
            for uri, listed in zip(segment_uris, durations, strict=True)
        ]
        played[variant.split("?")[0]] = decoded[-1].end - decoded[0].start
    assert len(played) >= 3, master.text  # audio only and at least two video rungs
    return played


def test_lecture_survives_a_killed_media_worker_and_plays_from_s3(
    deployment: Deployment, s3: S3Service, clip: Path
) -> None:
    deployment.clinicast("db", "upgrade")
    deployment.clinicast("seed")
    for name, role, clinic in (("ops", "admin", None), ("doc", "doctor", "139901002004")):
        extra = ["--clinic", clinic] if clinic else []
        deployment.clinicast(
            "users", "create", name, "--role", role, "--password", PASSWORD, *extra
        )
    portal = deployment.start("portal", "serve", "--no-worker")
    base = f"http://127.0.0.1:{deployment.web_port}"
    try:
        wait_until(lambda: _answers(f"{base}/healthz"), 60, "the portal to answer")
        first = deployment.start("media-1", "worker", "-Q", "media,io,default")
        deployment.start("speech", "worker", "-Q", "speech")
        with closing(sign_in(base, "ops")) as admin:
            upload(admin, clip)
            wait_until(lambda: _transcoding(admin), 180, "the transcode to be under way")
            first.kill()  # the machine is gone, mid-transcode
            deployment.start("media-2", "worker", "-Q", "media,io,default")
            state = wait_until(lambda: _published_or_failed(admin), 300, "the lecture to publish")
        assert isinstance(state, dict)
        assert state["lecture_status"] == "published", state
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{deployment.logs()}") from None
    assert portal.popen.poll() is None

    # The pipeline's jobs (each worker's start also queues a storage cleanup: not this test's).
    jobs = [job for job in _jobs(deployment.base_env["CLINICAST_DATABASE__URL"])
            if job[0] != "storage.cleanup"]  # fmt: skip
    assert [kind for kind, _, _ in jobs] == [
        "media.probe", "media.transcode", "speech.transcribe", "lectures.publish"
    ]  # fmt: skip
    assert all(status == "succeeded" for _, status, _ in jobs)
    assert jobs[1][2] == 2  # the transcode: the killed attempt and the one that finished
    assert jobs[3][2] == 1  # published once
    with closing(sign_in(base, "doc")) as doctor:
        for rendition, seconds in play(doctor, s3).items():
            assert seconds == pytest.approx(CLIP_SECONDS, abs=1.0), rendition


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _transcoding(client: httpx.Client) -> bool:
    state = pipeline(client)
    assert state["lecture_status"] != "failed", state
    # Running (the worker holds it): fetching the source or encoding. Waiting for a share of
    # its progress raced a short transcode to its end.
    return bool(step(state, "media.transcode")["status"] == "running")


def _published_or_failed(client: httpx.Client) -> dict[str, Any] | None:
    state = pipeline(client)
    return state if state["lecture_status"] in ("published", "failed") else None


def _jobs(database_url: str) -> list[tuple[str, str, int]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT kind, status, attempts FROM job ORDER BY id"))
            return [(str(kind), str(status), int(attempts)) for kind, status, attempts in rows]
    finally:
        engine.dispose()
