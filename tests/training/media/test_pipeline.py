"""A recording's way from a resumable upload to a published lecture: real S3 (SeaweedFS), real
FFmpeg, real Whisper, and the same JobRunner the Celery workers use (here driven inline: the
Celery transport is tested in tests/infra/test_job_engine.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session, select

from infra.media import FFmpegMediaProcessor
from infra.speech import WhisperTranscriber
from infra.storage.s3 import S3BlobStore
from tests.support.media import clip_with_speech
from tests.support.pipeline import Recorder, drain, upload, user
from training.errors import PermissionDeniedError, ValidationError
from training.jobs.models import Job, JobStatus
from training.jobs.registry import registry
from training.jobs.runner import JobRunner
from training.lectures.models import Language, Lecture, LectureStatus
from training.media.jobs import prompt_vocabulary
from training.media.models import MediaState
from training.media.services import PART_SIZE, MediaService
from training.ports import WorkerTools
from training.search.services import SearchService
from training.transcripts.services import TranscriptService

pytestmark = pytest.mark.slow


@pytest.fixture
def runner(
    sessions: Callable[[], Session],
    s3_store: S3BlobStore,
    transcriber: WhisperTranscriber,
    tmp_path: Path,
) -> JobRunner:
    return JobRunner(
        session_factory=sessions, registry=registry, dispatcher=Recorder(), worker_name="inline",
        heartbeat_seconds=0.5, retry_backoff=0.0, blobs=s3_store,
        tools=WorkerTools(media=FFmpegMediaProcessor(preset="ultrafast"), transcriber=transcriber,
                          workdir=tmp_path / "work", speech_model="base"),
    )  # fmt: skip


@pytest.fixture(scope="module")
def lecture_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six seconds of a test pattern with a spoken sentence about blood pressure."""
    return clip_with_speech(tmp_path_factory.mktemp("clips") / "lecture.mp4")


def test_uploaded_lecture_is_transcoded_transcribed_indexed_and_published(
    sessions: Callable[[], Session], runner: JobRunner, s3_store: S3BlobStore, lecture_clip: Path
) -> None:
    with sessions() as session:
        lecture = session.get(Lecture, 3)  # the seeded English lecture
        assert lecture is not None
        assert lecture.language is Language.EN
        upload(session, s3_store, 3, lecture_clip)
        assert [step.status for step in MediaService(session, s3_store).pipeline(3)] == [
            "queued",
            "pending",
            "pending",
            "pending",
        ]

    outcomes = drain(runner, sessions)
    assert outcomes == ["succeeded"] * 4

    with sessions() as session:
        lecture = session.get(Lecture, 3)
        asset = MediaService(session, s3_store).asset(3)
        assert lecture is not None
        assert asset is not None
        assert (lecture.status, asset.state) == (LectureStatus.PUBLISHED, MediaState.READY)
        assert [step.progress for step in MediaService(session, s3_store).pipeline(3)] == [1.0] * 4
        assert asset.duration == pytest.approx(6.0, abs=0.3)
        master = s3_store.get_bytes(asset.key(asset.master or "")).decode()
        assert "#EXT-X-STREAM-INF" in master
        heights = {r["height"] for r in asset.renditions}
        assert None in heights  # audio only
        assert {240} <= heights <= {None, 240, 270}  # video rungs, never above the 270p source
        assert s3_store.exists(asset.key(asset.download or ""))
        captions = s3_store.get_bytes(asset.captions_key or "").decode()
        assert captions.startswith("WEBVTT")
        assert "blood pressure" in captions.lower()
        text = " ".join(segment.text for segment in TranscriptService(session).segments(3)).lower()
        assert "elderly" in text
        village_doctor = user(session, "village-doctor")
        found = SearchService(session).search(village_doctor, "elderly patients")
        assert [result.lecture_id for result in found.lectures] == [3]
        assert found.lectures[0].moments[0] < 6.0
    # Only the switched-in attempt remains in the store.
    prefixes = {obj.key.split("/")[3] for obj in s3_store.list("lectures/3/attempts/")}
    assert len(prefixes) == 1


def test_running_a_finished_step_again_changes_nothing(
    sessions: Callable[[], Session], runner: JobRunner, s3_store: S3BlobStore, lecture_clip: Path
) -> None:
    with sessions() as session:
        upload(session, s3_store, 2, lecture_clip)
    drain(runner, sessions)
    with sessions() as session:
        before = MediaService(session, s3_store).asset(2)
        assert before is not None
        objects = sorted(obj.key for obj in s3_store.list("lectures/2/"))
        transcode = session.exec(select(Job).where(Job.kind == "media.transcode")).one()
        transcode.status = JobStatus.QUEUED  # as if the broker delivered it again, after the end
        session.add(transcode)
        session.commit()
    # The transcode finds its ladder switched in and does nothing; its successor is already
    # done, so the dedupe key returns that job rather than queueing the step again.
    assert drain(runner, sessions) == ["succeeded"]
    with sessions() as session:
        after = MediaService(session, s3_store).asset(2)
        assert after is not None
        assert after.hls_prefix == before.hls_prefix
    assert sorted(obj.key for obj in s3_store.list("lectures/2/")) == objects


def test_text_renamed_mp4_fails_at_the_probe_once_and_keeps_the_original(
    sessions: Callable[[], Session], runner: JobRunner, s3_store: S3BlobStore, tmp_path: Path
) -> None:
    fake = tmp_path / "recording.mp4"
    fake.write_text("这不是视频 — this is not a video\n" * 50)
    with sessions() as session:
        upload(session, s3_store, 1, fake)
    assert drain(runner, sessions) == ["failed for good"]
    with sessions() as session:
        service = MediaService(session, s3_store)
        asset = service.asset(1)
        lecture = session.get(Lecture, 1)
        assert asset is not None
        assert lecture is not None
        assert (asset.state, lecture.status) == (MediaState.FAILED, LectureStatus.FAILED)
        assert asset.error
        steps = service.pipeline(1)
        assert steps[0].status == "failed"
        assert steps[0].error is not None
        assert "InvalidMedia" in steps[0].error
        probe = session.get(Job, steps[0].job_id)
        assert probe is not None
        assert probe.attempts == 1  # bad input is not retried
        assert s3_store.get_bytes(asset.source_key or "") == fake.read_bytes()  # the original stays


def test_upload_resumes_with_the_parts_already_received(
    sessions: Callable[[], Session], s3_store: S3BlobStore, tmp_path: Path
) -> None:
    source = tmp_path / "big.mp4"
    source.write_bytes(b"\0" * (PART_SIZE * 2 + 1000))
    with sessions() as session:
        first = upload(session, s3_store, 1, source, drop_after=1)
        session.commit()
        assert first.parts == {}
        again = MediaService(session, s3_store).begin_upload(
            user(session, "specialist"), 1, filename="big.mp4", size=source.stat().st_size
        )
        assert again.upload_id == first.upload_id
        assert again.parts == {1: PART_SIZE}
        asset = upload(session, s3_store, 1, source)
        assert asset.source_size == source.stat().st_size


def test_upload_rules(sessions: Callable[[], Session], s3_store: S3BlobStore) -> None:
    with sessions() as session:
        service = MediaService(session, s3_store, max_upload_bytes=100 * 1024 * 1024)
        specialist = user(session, "specialist")
        with pytest.raises(ValidationError, match="empty"):
            service.begin_upload(specialist, 1, filename="a.mp4", size=0)
        with pytest.raises(ValidationError, match="the limit is 100 MB"):
            service.begin_upload(specialist, 1, filename="a.mp4", size=101 * 1024 * 1024)
        with pytest.raises(PermissionDeniedError):
            service.begin_upload(user(session, "village-doctor"), 1, filename="a.mp4", size=10)
        state = service.begin_upload(specialist, 1, filename="a.mp4", size=PART_SIZE + 10)
        with pytest.raises(ValidationError, match="expected"):
            service.upload_part(specialist, 1, state.upload_id, 1, b"short")
        with pytest.raises(ValidationError, match="have not arrived"):
            service.complete_upload(specialist, 1, state.upload_id)


def test_whisper_is_prompted_with_the_lecture_words_not_its_title_sentence() -> None:
    english = Lecture(
        title="Hypertension in elderly patients",
        keywords="hypertension, blood pressure",
        specialist_id=1,
    )
    assert prompt_vocabulary(english) == "hypertension, elderly, patients, blood, pressure"
    chinese = Lecture(
        title="老年高血压患者的降压药调整", keywords="降压药、老年患者", specialist_id=1
    )
    assert prompt_vocabulary(chinese) == "老年, 高血压, 患者, 降压药, 调整, 老年患者"
