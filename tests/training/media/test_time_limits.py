"""One time limit for a transcode, derived from its planned work: the transcoder's for ffmpeg,
the job engine's (the Celery soft limit) for the whole step, from the same number. A 4-hour 4K
lecture on a 2-core box is not killed by it (derivation only: no 4-hour encode here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from sqlmodel import Session, col, select

from infra.jobs.engine import CeleryDispatcher
from infra.media import FFmpegMediaProcessor
from infra.storage.s3 import S3BlobStore
from tests.support.media import clip_with_speech
from tests.support.media_info import source
from tests.support.pipeline import Recorder, upload
from training.jobs.models import Job, JobStatus
from training.jobs.registry import registry
from training.jobs.runner import JobRunner
from training.jobs.services import take_pending_dispatches
from training.media.models import MediaAsset
from training.media.pipeline import transcode_job_limit
from training.media.processing import RecordingSteps
from training.ports import MediaSummary, WorkerTools
from transcoder import plan_ladder, planned_pixels, time_limit_for

HOURS = 3600.0
FOUR_HOURS_4K = source(3840, 2160, duration=4 * HOURS)
SLOW_TWO_CORE_BOX = 34e6
"""Half the planned pixels a second measured for a 4K ladder on a busy 2-core box (69 Mpx/s
at a load of 8-10, veryfast): a slow box still finishes within the limit."""


def test_four_hour_4k_lecture_gets_more_than_a_slow_two_core_box_needs() -> None:
    ladder = plan_ladder(FOUR_HOURS_4K, max_height=2160)
    assert {360, 720, 1080, 2160} <= {rung.height for rung in ladder.video}
    needed = planned_pixels(ladder) / SLOW_TWO_CORE_BOX
    limit = time_limit_for(ladder)
    assert needed > 6 * HOURS  # the old job limit
    assert needed > 4 * FOUR_HOURS_4K.duration  # the old ffmpeg limit (duration x 4)
    assert limit >= needed
    # The job gets the transcoder's limit plus the time to move a 4 GB source and its ladder.
    assert transcode_job_limit(limit, 4 * 1024**3) > limit + 1800


def test_limit_follows_the_planned_pixels_above_a_floor() -> None:
    hd_hour = plan_ladder(source(1920, 1080, duration=HOURS))
    hd_two_hours = plan_ladder(source(1920, 1080, duration=2 * HOURS))
    uhd_hour = plan_ladder(source(3840, 2160, duration=HOURS))
    assert time_limit_for(hd_two_hours) == pytest.approx(2 * time_limit_for(hd_hour))
    assert time_limit_for(uhd_hour) > 3 * time_limit_for(hd_hour)  # 4K: ~3x the pixels and up
    assert time_limit_for(hd_hour, pixels_per_second=10e6) == pytest.approx(
        3 * time_limit_for(hd_hour, pixels_per_second=30e6)
    )
    assert time_limit_for(plan_ladder(source(1920, 1080, duration=10.0))) == 3600.0  # the floor
    assert time_limit_for(plan_ladder(source(640, 360, duration=600.0))) == 3600.0


def test_transcode_job_is_dispatched_with_the_limit_of_its_planned_ladder(
    sessions: Callable[[], Session], s3_store: S3BlobStore, tmp_path: Path
) -> None:
    clip = clip_with_speech(tmp_path / "lecture.mp4")
    with sessions() as session:
        upload(session, s3_store, 3, clip)
        take_pending_dispatches(session)
        asset = session.get(MediaAsset, 3)
        assert asset is not None
        planned = time_limit_for(plan_ladder(FOUR_HOURS_4K))
        summary = MediaSummary(4 * HOURS, True, True, 3840, 2160, transcode_seconds=planned)
        RecordingSteps(session).probed(asset, summary)
        (dispatch,) = take_pending_dispatches(session)
        session.commit()

    expected = transcode_job_limit(planned, asset.source_size)
    assert dispatch.kind == "media.transcode"
    assert dispatch.time_limit == pytest.approx(expected)
    sent: list[dict[str, Any]] = []
    celery = Celery("limits", broker="memory://", set_as_current=False)
    celery.send_task = lambda name, **options: sent.append(options)  # type: ignore[method-assign]
    CeleryDispatcher(celery).dispatch([dispatch])
    assert sent[0]["soft_time_limit"] == pytest.approx(expected)
    assert sent[0]["time_limit"] > sent[0]["soft_time_limit"]


@pytest.mark.slow
def test_transcoder_stops_ffmpeg_at_the_limit_the_job_carries(
    sessions: Callable[[], Session], s3_store: S3BlobStore, tmp_path: Path
) -> None:
    runner = JobRunner(
        session_factory=sessions, registry=registry, dispatcher=Recorder(), worker_name="inline",
        heartbeat_seconds=0.5, retry_backoff=0.0, blobs=s3_store,
        tools=WorkerTools(media=FFmpegMediaProcessor(preset="slow"), workdir=tmp_path / "w"),
    )  # fmt: skip
    with sessions() as session:
        upload(session, s3_store, 3, clip_with_speech(tmp_path / "lecture.mp4"))
    probe = _queued(sessions, "media.probe")
    assert runner.run(probe) == "succeeded"
    transcode = _queued(sessions, "media.transcode")
    with sessions() as session:
        job = session.get(Job, transcode)
        assert job is not None
        assert job.payload["transcode_seconds"] >= 3600.0  # the probe planned it
        job.payload = {**job.payload, "transcode_seconds": 0.3}
        session.add(job)
        session.commit()
    assert runner.run(transcode).startswith("failed")
    with sessions() as session:
        job = session.get(Job, transcode)
        assert job is not None
        assert "time limit" in (job.error or "")


def _queued(sessions: Callable[[], Session], kind: str) -> int:
    with sessions() as session:
        job_id = session.exec(
            select(Job.id).where(col(Job.kind) == kind, col(Job.status) == JobStatus.QUEUED)
        ).first()
    assert job_id is not None
    return job_id
