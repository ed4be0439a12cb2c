"""How a recording's pipeline ends when a step cannot succeed: the lecture says it failed, at
which step, why and whose it is to fix; storage that is down for a while does not use up a
step's attempts, and credentials that are wrong fail at once. Real SeaweedFS, real FFmpeg,
the JobRunner the workers use, driven inline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session, select

from infra.media import FFmpegMediaProcessor
from infra.storage.s3 import S3BlobStore
from infra.storage.s3_client import make_s3_client
from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from tests.support.media import clip_with_speech
from tests.support.pipeline import Recorder, drain, upload
from training.jobs.models import Job, JobStatus
from training.jobs.registry import FailureCause, registry
from training.jobs.runner import JobRunner
from training.jobs.services import TransientRetry
from training.lectures.models import Lecture, LectureStatus
from training.media.models import MediaAsset, MediaState
from training.ports import WorkerTools

pytestmark = pytest.mark.slow
LECTURE = 3


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clip_with_speech(tmp_path_factory.mktemp("clips") / "lecture.mp4")


def make_runner(
    sessions: Callable[[], Session],
    blobs: S3BlobStore,
    tmp_path: Path,
    *,
    preset: str = "ultrafast",
    transient: TransientRetry | None = None,
) -> JobRunner:
    return JobRunner(
        session_factory=sessions, registry=registry, dispatcher=Recorder(), worker_name="inline",
        heartbeat_seconds=0.5, retry_backoff=0.0, blobs=blobs,
        transient_retry=transient or TransientRetry(),
        tools=WorkerTools(media=FFmpegMediaProcessor(preset=preset), workdir=tmp_path / "work"),
    )  # fmt: skip


def store_at(endpoint: str, bucket: str, secret: str = S3_SECRET_KEY) -> S3BlobStore:
    client = make_s3_client(endpoint, S3_ACCESS_KEY, secret, max_attempts=1, connect_timeout=1)
    return S3BlobStore(client, bucket)


def state_of(sessions: Callable[[], Session]) -> tuple[Lecture, MediaAsset, list[Job]]:
    with sessions() as session:
        lecture, asset = session.get(Lecture, LECTURE), session.get(MediaAsset, LECTURE)
        assert lecture is not None
        assert asset is not None
        return lecture, asset, list(session.exec(select(Job).order_by(Job.id)))  # type: ignore[arg-type]


def test_a_step_that_fails_every_attempt_marks_the_lecture_failed_at_that_step(
    sessions: Callable[[], Session], s3_store: S3BlobStore, clip: Path, tmp_path: Path
) -> None:
    # x264 refuses the preset: the transcode fails for real, three attempts in a row.
    runner = make_runner(sessions, s3_store, tmp_path, preset="no-such-preset")
    with sessions() as session:
        upload(session, s3_store, LECTURE, clip)
    outcomes = drain(runner, sessions)
    assert outcomes == [
        "succeeded",
        "failed, retry in 0s",
        "failed, retry in 0s",
        "failed for good",
    ]
    lecture, asset, jobs = state_of(sessions)
    assert (lecture.status, asset.state) == (LectureStatus.FAILED, MediaState.FAILED)
    assert (asset.failed_step, asset.failure_cause) == ("media.transcode", FailureCause.EXHAUSTED)
    assert asset.error
    assert not asset.error.startswith("transcoder.")  # the reason, without the class path
    assert [(job.kind, job.status, job.attempts) for job in jobs] == [
        ("media.probe", JobStatus.SUCCEEDED, 1),
        ("media.transcode", JobStatus.FAILED, 3),
    ]
    assert s3_store.exists(asset.source_key or "")  # the recording is kept


def test_storage_down_for_a_while_uses_no_attempts_and_the_pipeline_then_completes(
    sessions: Callable[[], Session],
    s3_store: S3BlobStore,
    embedded_s3: EmbeddedSeaweedFS,
    clip: Path,
    tmp_path: Path,
) -> None:
    with sessions() as session:
        upload(session, s3_store, LECTURE, clip)
    # Nothing listens on port 9: the probe cannot fetch the recording, again and again.
    down = make_runner(sessions, store_at("http://127.0.0.1:9", s3_store.bucket), tmp_path)
    probe_id = state_of(sessions)[2][0].id
    assert probe_id is not None
    for _ in range(5):  # more failures than the step has attempts
        assert down.run(probe_id).startswith("failed, retry in")
        with sessions() as session:  # due now (the test does not wait out the backoff)
            job = session.get(Job, probe_id)
            assert job is not None
            assert (job.status, job.attempts) == (JobStatus.QUEUED, 0)
            assert job.transient_since is not None
            job.not_before = job.transient_since
            session.add(job)
            session.commit()
    lecture, asset, _ = state_of(sessions)
    assert (lecture.status, asset.state) == (LectureStatus.PROCESSING, MediaState.PROCESSING)

    up = make_runner(sessions, s3_store, tmp_path)
    assert drain(up, sessions)[0] == "succeeded"
    with sessions() as session:
        job = session.get(Job, probe_id)
        assert job is not None
        assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)


def test_storage_down_past_the_retry_window_fails_for_the_operator_to_fix(
    sessions: Callable[[], Session], s3_store: S3BlobStore, clip: Path, tmp_path: Path
) -> None:
    with sessions() as session:
        upload(session, s3_store, LECTURE, clip)
    down = make_runner(
        sessions, store_at("http://127.0.0.1:9", s3_store.bucket), tmp_path,
        transient=TransientRetry(window=0.0),
    )  # fmt: skip
    assert drain(down, sessions) == ["failed for good"]
    lecture, asset, _ = state_of(sessions)
    assert (lecture.status, asset.failure_cause) == (LectureStatus.FAILED, FailureCause.EXHAUSTED)
    assert asset.error is not None
    assert "unreachable" in asset.error
    assert "minutes of retries" in asset.error


def test_wrong_storage_credentials_fail_at_once_as_a_settings_problem(
    sessions: Callable[[], Session],
    s3_store: S3BlobStore,
    embedded_s3: EmbeddedSeaweedFS,
    clip: Path,
    tmp_path: Path,
) -> None:
    with sessions() as session:
        upload(session, s3_store, LECTURE, clip)
    wrong = make_runner(
        sessions, store_at(embedded_s3.endpoint_url, s3_store.bucket, "wrong-secret"), tmp_path
    )
    assert drain(wrong, sessions) == ["failed for good"]
    lecture, asset, jobs = state_of(sessions)
    assert (lecture.status, asset.state) == (LectureStatus.FAILED, MediaState.FAILED)
    assert (asset.failed_step, asset.failure_cause) == ("media.probe", FailureCause.SETTINGS)
    assert jobs[0].attempts == 1
    assert "CLINICAST_STORAGE__SECRET_KEY" in (asset.error or "")
