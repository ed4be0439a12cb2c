"""A transcode attempt whose worker stalled during the ladder upload, and whose job the sweep
gave to another worker meanwhile, never clobbers the live attempt's ladder: it stops between
two uploads or at the switch-in, and the published ladder is whole (every segment every
playlist lists is in storage). Real SeaweedFS, real FFmpeg, the workers' JobRunner inline."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from infra.media import FFmpegMediaProcessor
from infra.storage.s3 import S3BlobStore
from tests.support.media import clip_with_speech
from tests.support.pipeline import Recorder, upload
from training.jobs.models import Job, JobStatus
from training.jobs.registry import registry
from training.jobs.runner import JobRunner
from training.jobs.sweep import SweepService
from training.media.models import MediaAsset
from training.ports import ProgressCallback, StoredObject, WorkerTools

pytestmark = pytest.mark.slow
LECTURE = 3


class StallingStore(S3BlobStore):
    """The real store, as the stalled worker sees it: after its ``after``-th ladder upload
    the worker freezes; meanwhile (``stall``) the sweep hands its job to another worker."""

    def __init__(self, store: S3BlobStore, after: int, stall: Callable[[], None]) -> None:
        super().__init__(store.client, store.bucket)
        self.after, self.stall, self.uploads = after, stall, 0

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> StoredObject:
        stored = super().put_file(key, path, content_type=content_type, progress=progress)
        if "/attempts/" in key:
            self.uploads += 1
            if self.uploads == self.after:
                self.stall()
        return stored


def make_runner(
    sessions: Callable[[], Session], blobs: S3BlobStore, tmp_path: Path, heartbeat: float
) -> JobRunner:
    return JobRunner(
        session_factory=sessions, registry=registry, dispatcher=Recorder(),
        worker_name=f"worker-{heartbeat}", heartbeat_seconds=heartbeat, retry_backoff=0.0,
        blobs=blobs,
        tools=WorkerTools(media=FFmpegMediaProcessor(preset="ultrafast"), workdir=tmp_path / "w"),
    )  # fmt: skip


def queued(sessions: Callable[[], Session], kind: str) -> int:
    with sessions() as session:
        job_id = session.exec(
            select(Job.id).where(col(Job.kind) == kind, col(Job.status) == JobStatus.QUEUED)
        ).first()
    assert job_id is not None
    return job_id


def take_over(sessions: Callable[[], Session], job_id: int) -> None:
    """What the sweep does to a job whose worker stopped beating: queue it again."""
    for _ in range(50):
        time.sleep(0.02)
        with sessions() as session:
            SweepService(session).sweep(lease_seconds=0.0, redispatch_after=0.0)
            job = session.get(Job, job_id)
            assert job is not None
            if job.status is JobStatus.QUEUED:
                return
    raise AssertionError("the sweep did not take the job over")


def listed_uris(playlist: str) -> list[str]:
    """What an HLS playlist refers to: its entries and every ``URI="…"`` attribute."""
    lines = playlist.splitlines()
    return [line for line in lines if line and not line.startswith("#")] + re.findall(
        r'URI="([^"]+)"', playlist
    )


def missing_from_ladder(store: S3BlobStore, asset: MediaAsset) -> list[str]:
    """Every file the published ladder refers to that is not in storage."""
    assert asset.hls_prefix is not None
    assert asset.master is not None
    stored = {obj.key for obj in store.list(asset.hls_prefix)}
    wanted = [asset.master, asset.poster, asset.thumbnails, asset.download]
    variants = listed_uris(store.get_bytes(asset.key(asset.master)).decode())
    assert variants
    for variant in variants:
        wanted.append(variant)
        folder = variant.rsplit("/", 1)[0] + "/" if "/" in variant else ""
        entries = listed_uris(store.get_bytes(asset.key(variant)).decode())
        assert any(entry.endswith(".m4s") for entry in entries), entries
        wanted += [folder + entry for entry in entries]
    return [name for name in wanted if name and asset.key(name) not in stored]


@pytest.mark.parametrize(
    "stalled_heartbeat",
    [
        pytest.param(0.2, id="stale-attempt-notices-between-uploads"),
        pytest.param(3600.0, id="stale-attempt-reaches-the-switch-in"),
    ],
)
def test_stale_transcode_attempt_never_breaks_the_published_ladder(
    sessions: Callable[[], Session],
    s3_store: S3BlobStore,
    tmp_path: Path,
    stalled_heartbeat: float,
) -> None:
    clip = clip_with_speech(tmp_path / "lecture.mp4")
    with sessions() as session:
        upload(session, s3_store, LECTURE, clip)
    live = make_runner(sessions, s3_store, tmp_path, heartbeat=0.2)
    assert live.run(queued(sessions, "media.probe")) == "succeeded"
    transcode = queued(sessions, "media.transcode")

    def stall() -> None:
        take_over(sessions, transcode)
        # The live attempt runs the whole step: its ladder, switch-in, removal of the others.
        assert live.run(transcode) == "succeeded"

    stalled = StallingStore(s3_store, after=3, stall=stall)
    outcome = make_runner(sessions, stalled, tmp_path, heartbeat=stalled_heartbeat).run(transcode)

    with sessions() as session:
        asset = session.get(MediaAsset, LECTURE)
        job = session.get(Job, transcode)
        assert asset is not None
        assert job is not None
        assert job.status is JobStatus.SUCCEEDED
        assert missing_from_ladder(s3_store, asset) == []
        assert asset.hls_prefix is not None
        assert "/g1-2-" in asset.hls_prefix  # the live attempt's ladder
    assert stalled.uploads >= 3
    assert outcome == "cancelled"
