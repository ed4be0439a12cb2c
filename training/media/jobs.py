"""The media steps of a recording's pipeline. Each is safe to run twice: it checks what is
already done for this upload (``generation``) and only then does its work, and it queues the
next step with a dedupe key, so a step that dies is retried and nothing is done twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import Session

from training.base import utcnow
from training.media.models import MediaAsset
from training.media.services import MediaService, pipeline_failed
from training.pipeline.context import JobContext
from training.pipeline.registry import registry
from training.ports import BlobStore, MediaProcessor


def current(session: Session, payload: dict[str, Any]) -> MediaAsset | None:
    """The lecture's asset if this job is still about its current upload (None: superseded)."""
    asset = session.get(MediaAsset, int(payload["lecture_id"]))
    if asset is None or asset.generation != int(payload["generation"]):
        return None
    return asset


def blobs_of(ctx: JobContext) -> BlobStore:
    if ctx.blobs is None:
        raise KeyError(f"this worker has no object store for job {ctx.job_id}")
    return ctx.blobs


def fetch_source(ctx: JobContext, asset: MediaAsset, folder: Path, share: float) -> Path:
    """Download the source recording, reporting progress up to ``share``."""
    assert asset.source_key is not None
    target = folder / Path(asset.source_key).name
    total, done = max(asset.source_size, 1), 0

    def moved(count: int) -> None:
        nonlocal done
        done += count
        ctx.progress(share * done / total, "fetching the recording")

    blobs_of(ctx).get_file(asset.source_key, target, progress=moved)
    return target


def next_step(ctx: JobContext, kind: str, payload: dict[str, Any]) -> None:
    with ctx.session() as session:
        MediaService(session, blobs_of(ctx)).enqueue_step(
            kind, int(payload["lecture_id"]), int(payload["generation"])
        )
        session.commit()


@registry.kind(
    "media.probe", queue="media", max_attempts=3, soft_time_limit=900, on_failed=pipeline_failed
)
def probe_recording(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Fail fast on a bad upload: not media, truncated, empty, no usable stream."""
    with ctx.session() as session:
        asset = current(session, payload)
    if asset is None:
        return
    media: MediaProcessor = ctx.resource("media")
    with ctx.workdir() as folder:
        source = fetch_source(ctx, asset, folder, 0.8)
        ctx.progress(0.9, "probing")
        # Not media (InvalidMedia): the job fails at once and pipeline_failed tells the
        # uploader; the original stays stored.
        summary = media.probe(source)
    with ctx.session() as session:
        asset = current(session, payload)
        if asset is None:
            return
        asset.duration, asset.has_video = summary.duration, summary.has_video
        asset.width, asset.height, asset.description = (
            summary.width,
            summary.height,
            summary.description[:300],
        )
        session.add(asset)
        session.commit()
    next_step(ctx, "media.transcode", payload)


@registry.kind(
    "media.transcode",
    queue="media",
    max_attempts=3,
    soft_time_limit=6 * 3600,
    on_failed=pipeline_failed,
)
def transcode_recording(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Make the HLS ladder in a scratch directory, upload it under this attempt's prefix, then
    switch it in and remove older attempts."""
    with ctx.session() as session:
        asset = current(session, payload)
    if asset is None:
        return
    if asset.hls_prefix is None or f"/g{asset.generation}-" not in asset.hls_prefix:
        _transcode(ctx, asset, payload)
    next_step(ctx, "speech.transcribe", payload)
    _remove_other_attempts(ctx, payload)


def _transcode(ctx: JobContext, asset: MediaAsset, payload: dict[str, Any]) -> None:
    media: MediaProcessor = ctx.resource("media")
    blobs = blobs_of(ctx)
    prefix = ctx.attempt_prefix(f"lectures/{asset.lecture_id}").replace(
        "/attempts/", f"/attempts/g{asset.generation}-"
    )
    with ctx.workdir() as folder:
        source = fetch_source(ctx, asset, folder, 0.05)
        ladder = media.transcode(
            source, folder / "ladder",
            progress=lambda share: ctx.progress(0.05 + 0.85 * share, "transcoding"),
            cancelled=ctx.cancelled,
        )  # fmt: skip
        files = sorted(path for path in ladder.outdir.rglob("*") if path.is_file())
        for index, path in enumerate(files, start=1):
            blobs.put_file(prefix + path.relative_to(ladder.outdir).as_posix(), path)
            ctx.progress(0.9 + 0.1 * index / len(files), "storing the renditions")
    with ctx.session() as session:
        fresh = current(session, payload)
        if fresh is None:
            return
        fresh.hls_prefix, fresh.master, fresh.renditions = (
            prefix,
            ladder.master,
            list(ladder.renditions),
        )
        fresh.poster, fresh.thumbnails, fresh.download = (
            ladder.poster,
            ladder.thumbnails,
            ladder.download,
        )
        fresh.updated_at = utcnow()
        session.add(fresh)
        session.commit()


def _remove_other_attempts(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Delete the objects of attempts that were not switched in (failed, killed or
    superseded), never those of a newer upload whose pipeline may be running."""
    lecture_id, generation = int(payload["lecture_id"]), int(payload["generation"])
    with ctx.session() as session:
        asset = session.get(MediaAsset, lecture_id)
        keep = asset.hls_prefix if asset else None
    if keep is None:
        return
    blobs = blobs_of(ctx)
    attempts = f"lectures/{lecture_id}/attempts/"
    stale = set()
    for obj in blobs.list(attempts):
        prefix = obj.key[: obj.key.index("/", len(attempts)) + 1]
        name = prefix[len(attempts) :]
        if prefix != keep and name.startswith("g") and int(name[1:].split("-", 1)[0]) <= generation:
            stale.add(prefix)
    for prefix in stale:
        blobs.delete_prefix(prefix)
