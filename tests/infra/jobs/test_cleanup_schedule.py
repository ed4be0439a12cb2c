"""A worker cleans up at start: the scratch directories a killed worker left on its machine
go at once, and the storage cleanup job is queued and run (its retention from the settings).
A real ``clinicast worker`` process, real SeaweedFS (a bucket of this test's own)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import col, select

from infra.db import make_engine, make_session_factory, upgrade
from infra.storage.s3 import S3BlobStore
from infra.storage.s3_client import make_s3_client
from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY, WorkerProcess, wait_until
from training.jobs.models import Job, JobStatus
from training.media.cleanup import CLEANUP_KIND

pytestmark = pytest.mark.slow
BUCKET = "clinicast-gc-worker"


def test_worker_start_removes_dead_scratch_and_runs_the_storage_cleanup(
    embedded_settings_env: dict[str, str],
    embedded_s3: EmbeddedSeaweedFS,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    env = {
        **embedded_settings_env,
        "CLINICAST_STORAGE__BUCKET": BUCKET,
        "CLINICAST_STORAGE__RETENTION_DAYS": "0",
    }
    store = S3BlobStore(
        make_s3_client(embedded_s3.endpoint_url, S3_ACCESS_KEY, S3_SECRET_KEY), BUCKET
    )
    store.ensure_bucket()
    store.put_bytes("lectures/9/captions/g1.vtt", b"WEBVTT\n")  # lecture 9 has no media
    data = Path(env["CLINICAST_DATA_DIR"])
    engine = make_engine(f"sqlite:///{data / 'clinicast.sqlite'}")
    upgrade(engine)
    scratch = data / "work" / "job-4242-killed"
    (scratch / "ladder").mkdir(parents=True)
    (scratch / "source.mp4").write_bytes(b"\0" * 4096)

    worker = start_worker(env, queues="io,default")
    wait_until(lambda: not scratch.exists(), 60, "the dead job's scratch directory to go")
    sessions = make_session_factory(engine)

    def cleanup_finished() -> bool:
        with sessions() as session:
            statuses = session.exec(select(Job.status).where(col(Job.kind) == CLEANUP_KIND))
            return JobStatus.SUCCEEDED in list(statuses)

    wait_until(cleanup_finished, 90, f"the {CLEANUP_KIND} job to succeed\n{worker.log()}")
    assert not store.exists("lectures/9/captions/g1.vtt")
    engine.dispose()
