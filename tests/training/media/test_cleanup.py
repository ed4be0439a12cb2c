"""The storage cleanup deletes what no lecture uses any more (older uploads and captions,
attempts never switched in, abandoned multipart uploads, dead workers' scratch directories),
never what a published lecture shows or an unfinished job uses, nor anything younger than the
retention. Real SeaweedFS (a bucket of this module's own: the cleanup looks at a whole bucket),
real FFmpeg, the workers' JobRunner inline."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from infra.media import FFmpegMediaProcessor
from infra.storage.s3 import S3BlobStore
from infra.storage.s3_client import make_s3_client
from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from tests.support.media import clip_with_speech
from tests.support.pipeline import Recorder, upload
from training.base import utcnow
from training.jobs.models import Job, JobStatus
from training.jobs.registry import registry
from training.jobs.runner import JobRunner
from training.jobs.services import JobService
from training.media.cleanup import (
    CLEANUP_KIND,
    StorageCleanup,
    remove_work_dirs,
    work_dir_leftovers,
)
from training.media.models import MediaAsset
from training.media.pipeline import MediaKeys
from training.ports import WorkerTools

pytestmark = pytest.mark.slow
LECTURE = 3
WEEK = timedelta(days=7)


@pytest.fixture(scope="module")
def gc_bucket(embedded_s3: EmbeddedSeaweedFS) -> S3BlobStore:
    client = make_s3_client(embedded_s3.endpoint_url, S3_ACCESS_KEY, S3_SECRET_KEY)
    store = S3BlobStore(client, "clinicast-gc-test")
    store.ensure_bucket()
    return store


@pytest.fixture
def store(gc_bucket: S3BlobStore) -> S3BlobStore:
    gc_bucket.delete_prefix("")
    for pending in gc_bucket.pending_uploads(""):
        gc_bucket.abort_upload(pending.key, pending.upload_id)
    return gc_bucket


def runner(sessions: Callable[[], Session], blobs: S3BlobStore, workdir: Path) -> JobRunner:
    return JobRunner(
        session_factory=sessions, registry=registry, dispatcher=Recorder(), worker_name="inline",
        heartbeat_seconds=0.5, retry_backoff=0.0, blobs=blobs,
        tools=WorkerTools(media=FFmpegMediaProcessor(preset="ultrafast"), workdir=workdir),
    )  # fmt: skip


def run_queued(sessions: Callable[[], Session], inline: JobRunner, kind: str) -> int:
    with sessions() as session:
        job_id = session.exec(
            select(Job.id).where(col(Job.kind) == kind, col(Job.status) == JobStatus.QUEUED)
        ).first()
    assert job_id is not None
    assert inline.run(job_id) == "succeeded"
    return job_id


def test_cleanup_keeps_what_lectures_and_unfinished_jobs_use_and_deletes_the_rest(
    sessions: Callable[[], Session], store: S3BlobStore, tmp_path: Path
) -> None:
    keys = MediaKeys(LECTURE)
    inline = runner(sessions, store, tmp_path / "work")
    clip = clip_with_speech(tmp_path / "lecture.mp4")
    with sessions() as session:
        upload(session, store, LECTURE, clip)  # upload 1: probed, transcoded, switched in
    run_queued(sessions, inline, "media.probe")
    run_queued(sessions, inline, "media.transcode")
    with sessions() as session:
        upload(session, store, LECTURE, clip)  # upload 2: its probe is still queued
        asset = session.get(MediaAsset, LECTURE)
        assert asset is not None
        assert asset.hls_prefix is not None
        published = {obj.key for obj in store.list(asset.hls_prefix)}
    killed_attempt = keys.attempt(1, "1-deadbeef") + "360p/seg-00000.m4s"
    live_attempt = keys.attempt(2, "1-cafebabe") + "360p/seg-00000.m4s"  # upload 2's transcode
    old_captions = keys.captions(0)
    other_area = keys.root + "live/segment.ts"  # not the pipeline's: never looked at
    for key in (killed_attempt, live_attempt, old_captions, other_area):
        store.put_bytes(key, os.urandom(1000))
    abandoned = store.start_upload("lectures/5/source/1/source.mp4")
    store.put_part("lectures/5/source/1/source.mp4", abandoned, 1, os.urandom(5 * 1024 * 1024))

    later = utcnow() + WEEK * 8 / 7  # a week and a day later
    with sessions() as session:  # upload 1's transcription runs: its files are in use
        transcribe = session.exec(select(Job).where(col(Job.kind) == "speech.transcribe")).one()
        assert transcribe.id is not None
        assert JobService(session).claim(transcribe.id, "a worker") is not None
        cleanup = StorageCleanup(session, store, retention=WEEK, now=later)
        assert {item.name for item in cleanup.leftovers()} == {
            old_captions,
            f"lectures/5/source/1/source.mp4 ({abandoned})",
        }
        JobService(session).cancel(transcribe.id)  # superseded: it stops
        session.commit()

    with sessions() as session:
        cleanup = StorageCleanup(session, store, retention=WEEK, now=later)
        leftovers = cleanup.leftovers()
        assert {item.name for item in leftovers} == {
            keys.source(1, clip.name),
            killed_attempt,
            old_captions,
            f"lectures/5/source/1/source.mp4 ({abandoned})",
        }
        assert {item.reason for item in leftovers} == {
            "older upload", "transcode attempt never switched in", "older captions",
            "abandoned upload",
        }  # fmt: skip
        assert sum(item.size for item in leftovers) == clip.stat().st_size + 2000 + 5 * 1024**2
        cleanup.remove(leftovers)

    remaining = {obj.key for obj in store.list("")}
    assert published <= remaining  # the published ladder, whole
    assert {keys.source(2, clip.name), live_attempt, other_area} <= remaining
    assert not {keys.source(1, clip.name), killed_attempt, old_captions} & remaining
    assert list(store.pending_uploads("lectures/5/")) == []


def test_nothing_younger_than_the_retention_is_deleted(
    sessions: Callable[[], Session], store: S3BlobStore
) -> None:
    keys = MediaKeys(LECTURE)
    store.put_bytes(keys.attempt(1, "1-deadbeef") + "master.m3u8", b"#EXTM3U\n")
    store.start_upload(keys.source(1, "a.mp4"))
    with sessions() as session:
        assert StorageCleanup(session, store, retention=WEEK).leftovers() == []
        later = StorageCleanup(session, store, retention=WEEK, now=utcnow() + 2 * WEEK)
        assert len(later.leftovers()) == 2


def test_scratch_directories_go_once_their_job_is_not_running(
    sessions: Callable[[], Session], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    with sessions() as session:
        jobs = JobService(session)
        running = jobs.enqueue(registry.get(CLEANUP_KIND), {}, dedupe_key="a")
        killed = jobs.enqueue(registry.get(CLEANUP_KIND), {}, dedupe_key="b")
        session.commit()
        assert running.id is not None
        assert killed.id is not None
        assert jobs.claim(running.id, "worker") is not None
    for job_id in (running.id, killed.id, 424242):
        folder = work / f"job-{job_id}-x1y2"
        (folder / "ladder").mkdir(parents=True)
        (folder / "source.mp4").write_bytes(os.urandom(3000))
    (work / "notes").mkdir()  # not a job's: left alone

    with sessions() as session:
        leftovers = work_dir_leftovers(session, work)
    assert sorted(item.name for item in leftovers) == sorted(
        str(work / f"job-{job_id}-x1y2") for job_id in (killed.id, 424242)
    )
    assert remove_work_dirs(leftovers) == 6000
    assert sorted(path.name for path in work.iterdir()) == [f"job-{running.id}-x1y2", "notes"]


def test_cleanup_job_runs_in_a_worker_and_removes_its_machines_leftovers(
    sessions: Callable[[], Session], store: S3BlobStore, tmp_path: Path
) -> None:
    store.put_bytes("lectures/8/captions/g1.vtt", b"WEBVTT\n")  # lecture 8 has no media
    (tmp_path / "work" / "job-999-dead").mkdir(parents=True)
    with sessions() as session:
        job = JobService(session).enqueue(
            registry.get(CLEANUP_KIND), {"retention_days": 0}, dedupe_key="cleanup"
        )
        session.commit()
    assert job.id is not None
    assert runner(sessions, store, tmp_path / "work").run(job.id) == "succeeded"
    assert not store.exists("lectures/8/captions/g1.vtt")
    assert not (tmp_path / "work" / "job-999-dead").exists()
