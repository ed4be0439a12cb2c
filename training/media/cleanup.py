"""Deleting what no lecture uses any more: older uploads and captions, transcode attempts that
were never switched in (failed, killed, superseded), multipart uploads abandoned by their
browser, and scratch directories of workers killed mid-job.

Never what a lecture shows (its source, its switched-in ladder, its captions) nor what an
unfinished job of it may read or write (the source, attempts and captions of that job's upload),
nor anything younger than the retention: a stale attempt may still be writing. A worker's
scratch directory goes once its job is no longer running. Only the folders the pipeline owns
(``training.media.pipeline.MediaKeys``: ``source/``, ``attempts/``, ``captions/``) are looked at.

The ``storage.cleanup`` job runs it periodically (the worker's sweep queues it), and
``clinicast storage gc [--dry-run]`` on demand.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from training.base import utcnow
from training.errors import UploadNotFound
from training.jobs.context import JobContext
from training.jobs.models import Job, JobStatus
from training.jobs.registry import registry
from training.media.models import MediaAsset
from training.ports import BlobStore

CLEANUP_KIND = "storage.cleanup"
LECTURES = "lectures/"
CHECK_OBJECTS = ".clinicast/check/"
_OWNED = re.compile(r"^lectures/(\d+)/(source/(\d+)/|attempts/g(\d+)-[^/]+/|captions/g(\d+)\.vtt$)")
_WORK_DIR = re.compile(r"^job-(\d+)-")


@dataclass(frozen=True)
class Leftover:
    """Something the cleanup deletes: an object, a multipart upload or a scratch directory."""

    kind: str  # "object", "upload" or "workdir"
    name: str  # the key, "key (upload id)" or the directory
    size: int
    reason: str
    upload_id: str | None = None


@dataclass(frozen=True)
class _InUse:
    """What one lecture's media uses: kept whatever its age."""

    keep: frozenset[str]  # keys and key prefixes
    generations: frozenset[int]  # uploads whose objects are all kept

    def keeps(self, key: str, generation: int) -> bool:
        return generation in self.generations or any(key.startswith(kept) for kept in self.keep)


class StorageCleanup:
    def __init__(
        self,
        session: Session,
        blobs: BlobStore,
        *,
        retention: timedelta,
        now: datetime | None = None,
    ) -> None:
        self.session = session
        self.blobs = blobs
        self.cutoff = (now or utcnow()) - retention

    def leftovers(self) -> list[Leftover]:
        """Objects and multipart uploads no lecture or unfinished job uses, older than the
        retention, oldest lectures first."""
        in_use = self._in_use()
        found = list(self._objects(in_use))
        found += [
            Leftover("object", obj.key, obj.size, "readiness check object")
            for obj in self.blobs.list(CHECK_OBJECTS)
            if obj.modified is not None and obj.modified < self.cutoff
        ]
        return found + list(self._uploads())

    def _objects(self, in_use: dict[int, _InUse]) -> Iterator[Leftover]:
        for obj in self.blobs.list(LECTURES):
            owned = _OWNED.match(obj.key)
            if owned is None or obj.modified is None or obj.modified >= self.cutoff:
                continue
            lecture_id = int(owned.group(1))
            generation = int(next(group for group in owned.groups()[2:] if group is not None))
            uses = in_use.get(lecture_id)
            if uses is None or not uses.keeps(obj.key, generation):
                yield Leftover("object", obj.key, obj.size, _reason(owned.group(2)))

    def _uploads(self) -> Iterator[Leftover]:
        for upload in self.blobs.pending_uploads(LECTURES):
            if upload.initiated < self.cutoff:
                size = sum(self.blobs.uploaded_parts(upload.key, upload.upload_id).values())
                name = f"{upload.key} ({upload.upload_id})"
                yield Leftover("upload", name, size, "abandoned upload", upload.upload_id)

    def _in_use(self) -> dict[int, _InUse]:
        running = _running_generations(self.session)
        uses: dict[int, _InUse] = {}
        for asset in self.session.exec(select(MediaAsset)):
            keep = {kept for kept in (asset.hls_prefix, asset.captions_key) if kept}
            # Its source, and the next upload's key: a completion S3 made and we did not
            # record is adopted from there (``MediaService.complete_upload``).
            generations = {asset.generation, asset.generation + 1} | running.pop(
                asset.lecture_id, set()
            )
            uses[asset.lecture_id] = _InUse(frozenset(keep), frozenset(generations))
        for lecture_id, generations in running.items():
            uses[lecture_id] = _InUse(frozenset(), frozenset(generations))
        return uses

    def remove(self, leftovers: Iterable[Leftover]) -> int:
        """Delete ``leftovers`` (objects and uploads); the bytes freed."""
        freed = 0
        for item in leftovers:
            if item.kind == "object":
                self.blobs.delete(item.name)  # gone already (another worker): no error
            elif item.kind == "upload" and item.upload_id is not None:
                with contextlib.suppress(UploadNotFound):
                    self.blobs.abort_upload(item.name.rsplit(" (", 1)[0], item.upload_id)
            else:
                continue
            freed += item.size
        return freed


def _reason(folder: str) -> str:
    if folder.startswith("source/"):
        return "older upload"
    if folder.startswith("captions/"):
        return "older captions"
    return "transcode attempt never switched in"


def _running_generations(session: Session) -> dict[int, set[int]]:
    """Lecture → the uploads its running jobs are about (a queued job of a superseded upload
    stops at once when it starts; one of the current upload is covered by the asset)."""
    found: dict[int, set[int]] = defaultdict(set)
    for payload in session.exec(select(Job.payload).where(col(Job.status) == JobStatus.RUNNING)):
        lecture, generation = payload.get("lecture_id"), payload.get("generation")
        if isinstance(lecture, int) and isinstance(generation, int):
            found[lecture].add(generation)
    return found


def work_dir_leftovers(session: Session, workdir: Path | None) -> list[Leftover]:
    """A worker's scratch directories (``job-<id>-…``) whose job is no longer running: the
    worker that ran it was killed (a finished attempt removes its own)."""
    if workdir is None or not workdir.is_dir():
        return []
    folders = {
        path: int(found.group(1))
        for path in workdir.iterdir()
        if (found := _WORK_DIR.match(path.name)) and path.is_dir()
    }
    if not folders:
        return []
    running = set(
        session.exec(
            select(Job.id).where(
                col(Job.id).in_(set(folders.values())), col(Job.status) == JobStatus.RUNNING
            )
        )
    )
    return [
        Leftover("workdir", str(path), _tree_size(path), f"scratch directory of job {job_id}")
        for path, job_id in sorted(folders.items())
        if job_id not in running
    ]


def remove_work_dirs(leftovers: Iterable[Leftover]) -> int:
    freed = 0
    for item in leftovers:
        if item.kind == "workdir":
            shutil.rmtree(item.name, ignore_errors=True)
            freed += item.size
    return freed


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@registry.kind(CLEANUP_KIND, queue="io", max_attempts=1, soft_time_limit=3 * 3600)
def clean_storage(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Delete what no lecture or unfinished job uses and is older than ``retention_days``, and
    this worker's scratch directories of jobs no longer running. Safe to run twice, and in
    several workers at once (what one deletes, the other finds gone)."""
    retention = timedelta(days=float(payload.get("retention_days", 7)))
    with ctx.session() as session:
        cleanup = StorageCleanup(session, ctx.blobs, retention=retention)
        leftovers = cleanup.leftovers()
        scratch = work_dir_leftovers(session, ctx.tools.workdir)
    ctx.progress(0.1, f"deleting {len(leftovers)} objects and uploads")
    freed = cleanup.remove(leftovers) + remove_work_dirs(scratch)
    ctx.progress(1.0, f"deleted {len(leftovers) + len(scratch)} leftovers, {freed} bytes")
