"""Uploading a lecture's recording in resumable parts, and following its pipeline."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

from sqlmodel import Session, col, select

from training.accounts.models import Role, User
from training.base import utcnow
from training.errors import (
    NotFoundError,
    PermissionDeniedError,
    UploadNotFound,
    ValidationError,
)
from training.jobs.models import Job, JobStatus
from training.jobs.services import JobService
from training.lectures.models import Lecture, LectureStatus
from training.lectures.rules import may_manage
from training.lectures.services import LectureService
from training.media.models import MediaAsset, MediaState
from training.media.pipeline import FIRST_STEP, STEPS, MediaKeys, step_key
from training.media.processing import RecordingSteps
from training.ports import BlobStore
from training.transcripts.formats import to_webvtt
from training.transcripts.services import TranscriptService

PART_SIZE = 8 * 1024 * 1024
MIB = 1024 * 1024


@dataclass(frozen=True)
class UploadState:
    lecture_id: int
    upload_id: str
    filename: str
    size: int
    part_size: int
    parts: dict[int, int]  # part number → bytes received

    @property
    def part_count(self) -> int:
        return max(1, math.ceil(self.size / self.part_size))

    @property
    def received(self) -> int:
        return sum(self.parts.values())

    def expected_part_size(self, part_number: int) -> int:
        if not 1 <= part_number <= self.part_count:
            raise ValidationError(
                f"part {part_number}: this upload has parts 1 to {self.part_count}"
            )
        if part_number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)


@dataclass(frozen=True)
class StepStatus:
    kind: str
    label: str
    status: str  # a JobStatus value, or "pending" before the step is queued
    progress: float
    message: str
    error: str | None
    job_id: int | None


class MediaService:
    def __init__(
        self, session: Session, blobs: BlobStore, *, max_upload_bytes: int = 4096 * MIB
    ) -> None:
        self.session = session
        self.blobs = blobs
        self.max_upload_bytes = max_upload_bytes
        self.lectures = LectureService(session)

    # --- uploading --------------------------------------------------------------------------

    def _editable(self, user: User, lecture_id: int) -> Lecture:
        lecture = self.lectures.get(lecture_id)
        if not may_manage(user, lecture):
            raise PermissionDeniedError(
                "only the lecture's specialist or an admin uploads its recording"
            )
        return lecture

    def asset(self, lecture_id: int) -> MediaAsset | None:
        return self.session.get(MediaAsset, lecture_id)

    def begin_upload(
        self, user: User, lecture_id: int, *, filename: str, size: int, content_type: str = ""
    ) -> UploadState:
        """Start an upload, or resume the one in progress for the same file (name and size).
        Always works: an upload that object storage no longer has (aborted by a lifecycle rule,
        or completed without our record of it) is started again."""
        self._editable(user, lecture_id)
        if size <= 0:
            raise ValidationError("the file is empty")
        if size > self.max_upload_bytes:
            raise ValidationError(
                f"the file is {size / MIB:.0f} MB; the limit is {self.max_upload_bytes / MIB:.0f} MB"
            )
        asset = self.asset(lecture_id) or MediaAsset(lecture_id=lecture_id)
        if asset.upload_id and (asset.source_filename, asset.upload_size) == (filename, size):
            state = self._state(asset)
            if state is not None:
                return state
        if asset.upload_id:
            self._abort(asset)
        key = self._upload_key(lecture_id, asset.generation + 1, filename)
        asset.upload_id = self.blobs.start_upload(key, content_type=content_type or None)
        asset.upload_size, asset.source_filename, asset.content_type = (
            size,
            filename[:300],
            content_type[:100],
        )
        asset.updated_at = utcnow()
        self.session.add(asset)
        self.session.flush()
        return UploadState(lecture_id, asset.upload_id, filename, size, PART_SIZE, {})

    @staticmethod
    def _upload_key(lecture_id: int, generation: int, filename: str) -> str:
        return MediaKeys(lecture_id).source(generation, filename)

    def _abort(self, asset: MediaAsset) -> None:
        assert asset.upload_id is not None
        key = self._upload_key(asset.lecture_id, asset.generation + 1, asset.source_filename)
        with contextlib.suppress(UploadNotFound):  # already gone: nothing to abort
            self.blobs.abort_upload(key, asset.upload_id)
        asset.upload_id = None

    def upload_state(self, user: User, lecture_id: int) -> UploadState | None:
        """The upload in progress, or None (also when object storage no longer has it)."""
        self._editable(user, lecture_id)
        asset = self.asset(lecture_id)
        return None if asset is None else self._state(asset)

    def _state(self, asset: MediaAsset) -> UploadState | None:
        if asset.upload_id is None:
            return None
        key = self._upload_key(asset.lecture_id, asset.generation + 1, asset.source_filename)
        try:
            parts = self.blobs.uploaded_parts(key, asset.upload_id)
        except UploadNotFound:
            return None
        return UploadState(
            asset.lecture_id, asset.upload_id, asset.source_filename, asset.upload_size,
            PART_SIZE, parts,
        )  # fmt: skip

    def upload_part(
        self, user: User, lecture_id: int, upload_id: str, part_number: int, data: bytes
    ) -> None:
        asset = self._upload_in_progress(user, lecture_id, upload_id)
        state = UploadState(
            lecture_id, upload_id, asset.source_filename, asset.upload_size, PART_SIZE, {}
        )
        expected = state.expected_part_size(part_number)
        if len(data) != expected:
            raise ValidationError(f"part {part_number} has {len(data)} bytes; expected {expected}")
        key = self._upload_key(lecture_id, asset.generation + 1, asset.source_filename)
        self.blobs.put_part(key, upload_id, part_number, data)

    def _upload_in_progress(self, user: User, lecture_id: int, upload_id: str) -> MediaAsset:
        self._editable(user, lecture_id)
        asset = self.asset(lecture_id)
        if asset is None or asset.upload_id != upload_id:
            raise NotFoundError(f"no upload {upload_id} in progress for lecture {lecture_id}")
        return asset

    def complete_upload(self, user: User, lecture_id: int, upload_id: str) -> MediaAsset:
        """Assemble the parts into the source recording and start its pipeline.

        If object storage no longer has the upload, the assembled recording is adopted when it
        is there in full (S3 completed it, but our record of that was lost); otherwise
        ``UploadNotFound`` says to begin again (the parts were aborted or expired)."""
        asset = self._upload_in_progress(user, lecture_id, upload_id)
        key = self._upload_key(lecture_id, asset.generation + 1, asset.source_filename)
        state = self._state(asset)
        if state is None:
            return self._adopt(asset, key)
        missing = [
            n
            for n in range(1, state.part_count + 1)
            if state.parts.get(n) != state.expected_part_size(n)
        ]
        if missing:
            raise ValidationError(f"parts {missing[:10]} have not arrived yet")
        try:
            stored = self.blobs.complete_upload(key, upload_id)
        except UploadNotFound:  # completed or aborted meanwhile (a second click, a lifecycle rule)
            return self._adopt(asset, key)
        return self._source_stored(asset, key, stored.size)

    def _adopt(self, asset: MediaAsset, key: str) -> MediaAsset:
        try:
            stored = self.blobs.stat(key)
        except FileNotFoundError:
            stored = None
        if stored is None or stored.size != asset.upload_size:
            raise UploadNotFound(
                f"the upload of {asset.source_filename} is no longer in progress (it was aborted "
                "or expired): begin it again"
            )
        return self._source_stored(asset, key, stored.size)

    def _source_stored(self, asset: MediaAsset, key: str, size: int) -> MediaAsset:
        lecture_id = asset.lecture_id
        asset.generation += 1
        asset.upload_id, asset.source_key, asset.source_size = None, key, size
        asset.state, asset.error, asset.updated_at = MediaState.PROCESSING, None, utcnow()
        asset.failed_step = asset.failure_cause = None
        lecture = self.lectures.get(lecture_id)
        lecture.status, lecture.updated_at = LectureStatus.PROCESSING, utcnow()
        self.session.add_all([asset, lecture])
        self.session.flush()
        RecordingSteps(self.session).enqueue(FIRST_STEP, lecture_id, asset.generation)
        return asset

    def refresh_captions(self, lecture_id: int) -> None:
        """Write the captions anew from the stored transcript (after a specialist corrected a
        segment), so the player's captions say what the transcript panel and search say."""
        asset = self.asset(lecture_id)
        transcription = TranscriptService(self.session).transcription(lecture_id)
        if asset is None or asset.captions_key is None or transcription is None:
            return
        self.blobs.put_bytes(
            asset.captions_key, to_webvtt(transcription).encode(), content_type="text/vtt"
        )

    # --- following the pipeline -------------------------------------------------------------

    def pipeline(self, lecture_id: int) -> list[StepStatus]:
        """Each step of the current upload's pipeline, with its state and progress."""
        asset = self.asset(lecture_id)
        if asset is None or asset.generation == 0:
            return []
        keys = {step_key(step.kind, lecture_id, asset.generation): step.kind for step in STEPS}
        jobs = {
            keys[job.dedupe_key]: job
            for job in self.session.exec(select(Job).where(col(Job.dedupe_key).in_(keys)))
            if job.dedupe_key
        }
        steps = []
        for kind, label in ((step.kind, step.label) for step in STEPS):
            job = jobs.get(kind)
            if job is None:
                steps.append(StepStatus(kind, label, "pending", 0.0, "", None, None))
            else:
                steps.append(
                    StepStatus(
                        kind, label, job.status.value, job.progress, job.message, job.error, job.id
                    )
                )
        return steps

    def restart_failed(self, user: User, lecture_id: int) -> Job:
        """Queue the failed step of the current pipeline again (an admin's action)."""
        if user.role is not Role.ADMIN:
            raise PermissionDeniedError("only an admin restarts a pipeline")
        for step in self.pipeline(lecture_id):
            if step.status in (JobStatus.FAILED.value, JobStatus.CANCELLED.value) and step.job_id:
                job = JobService(self.session).restart(step.job_id)
                asset = self.asset(lecture_id)
                assert asset is not None
                asset.state, asset.error = MediaState.PROCESSING, None
                asset.failed_step = asset.failure_cause = None
                lecture = self.lectures.get(lecture_id)
                lecture.status = LectureStatus.PROCESSING
                self.session.add_all([asset, lecture])
                return job
        raise ValidationError(f"lecture {lecture_id} has no failed step to restart")
