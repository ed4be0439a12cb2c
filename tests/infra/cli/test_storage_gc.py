"""``clinicast storage gc``: what it would delete with sizes (``--dry-run`` deletes nothing),
then deletes it; what a lecture uses stays. A real process, real SeaweedFS and SQLite."""

from __future__ import annotations

import os
from pathlib import Path

from infra.db import make_engine, make_session_factory, upgrade
from infra.seed import seed
from infra.storage.s3 import S3BlobStore
from infra.storage.s3_client import make_s3_client
from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from tests.infra.cli.test_admin_and_run import clinicast
from training.media.models import MediaAsset

BUCKET = "clinicast-gc-cli"


def test_storage_gc_lists_with_sizes_then_deletes_only_leftovers(
    embedded_settings_env: dict[str, str], embedded_s3: EmbeddedSeaweedFS, tmp_path: Path
) -> None:
    env = {**embedded_settings_env, "CLINICAST_STORAGE__BUCKET": BUCKET}
    store = S3BlobStore(
        make_s3_client(embedded_s3.endpoint_url, S3_ACCESS_KEY, S3_SECRET_KEY), BUCKET
    )
    store.ensure_bucket()
    store.delete_prefix("")
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'clinicast.sqlite'}")
    upgrade(engine)
    with make_session_factory(engine)() as session:
        seed(session)
        session.add(MediaAsset(lecture_id=2, generation=2, source_key="lectures/2/source/2/s.mp4",
                               captions_key="lectures/2/captions/g2.vtt",
                               hls_prefix="lectures/2/attempts/g2-1-aaaa1111/"))  # fmt: skip
        session.commit()
    engine.dispose()
    used = ["lectures/2/source/2/s.mp4", "lectures/2/captions/g2.vtt",
            "lectures/2/attempts/g2-1-aaaa1111/master.m3u8"]  # fmt: skip
    leftovers = {"lectures/2/source/1/s.mp4": 3 * 1024 * 1024, "lectures/2/captions/g1.vtt": 700}
    for key in used:
        store.put_bytes(key, b"in use")
    for key, size in leftovers.items():
        store.put_bytes(key, os.urandom(size))
    scratch = tmp_path / "data" / "work" / "job-31337-dead"
    scratch.mkdir(parents=True)
    (scratch / "source.mp4").write_bytes(os.urandom(2048))

    dry = clinicast("storage", "gc", "--dry-run", "--retention-days", "0", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "3.0 MiB  older upload: lectures/2/source/1/s.mp4" in dry.stdout
    assert "700 B  older captions: lectures/2/captions/g1.vtt" in dry.stdout
    assert f"2.0 KiB  scratch directory of job 31337: {scratch}" in dry.stdout
    assert "would delete 3 leftovers, 3.0 MiB" in dry.stdout
    assert all(store.exists(key) for key in [*used, *leftovers])
    assert scratch.exists()

    # The default retention: every object is younger; a dead job's scratch directory is not
    # kept for any time.
    kept = clinicast("storage", "gc", env=env)
    assert kept.returncode == 0, kept.stderr
    assert "deleted 1 leftovers, 2.0 KiB" in kept.stdout
    assert all(store.exists(key) for key in leftovers)
    assert not scratch.exists()

    done = clinicast("storage", "gc", "--retention-days", "0", env=env)
    assert done.returncode == 0, done.stderr
    assert "deleted 2 leftovers, 3.0 MiB" in done.stdout
    assert all(store.exists(key) for key in used)
    assert not any(store.exists(key) for key in leftovers)
