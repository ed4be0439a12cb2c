"""The state changes of a recording's pipeline: each step's result is recorded here, with the
queueing of the next step in the same transaction (the job that calls commits). Jobs only
load, call a tool, and report progress (``training/media/jobs.py``).

Every method is about one upload (``generation``): a job of an upload that a newer one
replaced finds ``current`` None and changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session

from training.base import utcnow
from training.jobs.models import Job
from training.jobs.registry import JobFailure, registry
from training.jobs.services import JobService
from training.lectures.models import Lecture, LectureStatus
from training.lectures.services import LectureService
from training.media.models import MediaAsset, MediaState
from training.media.pipeline import MediaKeys, next_step, step_key, transcode_job_limit
from training.ports import LadderOutput, MediaSummary, Transcription
from training.search.services import SearchService
from training.transcripts.services import TranscriptService

_EXCEPTION_NAME = re.compile(r"^(?:\w+\.)*[A-Z]\w*: ")
"""The ``training.errors.InvalidMedia: `` that a job's recorded error starts with."""


def payload_of(lecture_id: int, generation: int, **extra: float) -> dict[str, Any]:
    return {"lecture_id": lecture_id, "generation": generation, **extra}


class RecordingSteps:
    def __init__(self, session: Session) -> None:
        self.session = session

    def current(self, payload: dict[str, Any]) -> MediaAsset | None:
        """The lecture's media if ``payload`` is still about its current upload."""
        asset = self.session.get(MediaAsset, int(payload["lecture_id"]))
        if asset is None or asset.generation != int(payload["generation"]):
            return None
        return asset

    def lecture(self, asset: MediaAsset) -> Lecture:
        return LectureService(self.session).get(asset.lecture_id)

    def enqueue(self, kind: str, lecture_id: int, generation: int, **extra: float) -> Job:
        """Queue step ``kind`` of upload ``generation`` (once: a second call returns it)."""
        return JobService(self.session).enqueue(
            registry.get(kind),
            payload_of(lecture_id, generation, **extra),
            dedupe_key=step_key(kind, lecture_id, generation),
        )

    def _then(self, asset: MediaAsset, kind: str, **extra: float) -> None:
        following = next_step(kind)
        if following is not None:
            self.enqueue(following, asset.lecture_id, asset.generation, **extra)

    def probed(self, asset: MediaAsset, summary: MediaSummary) -> None:
        asset.duration, asset.has_video = summary.duration, summary.has_video
        asset.width, asset.height = summary.width, summary.height
        asset.description = summary.description[:300]
        self._save(asset)
        limits = {}
        if summary.transcode_seconds is not None:  # the one limit of the transcode step
            limits = {
                "transcode_seconds": summary.transcode_seconds,
                "time_limit": transcode_job_limit(summary.transcode_seconds, asset.source_size),
            }
        self._then(asset, "media.probe", **limits)

    @staticmethod
    def has_ladder(asset: MediaAsset) -> bool:
        """This upload's ladder is switched in already (a retried transcode has nothing to do)."""
        found = MediaKeys(asset.lecture_id).attempt_of(asset.hls_prefix or "")
        return found is not None and found[1] == asset.generation

    def transcoded(self, asset: MediaAsset, prefix: str, ladder: LadderOutput | None) -> None:
        """Switch in the ladder stored under ``prefix`` (None: it was switched in before)."""
        if ladder is not None:
            asset.hls_prefix, asset.master = prefix, ladder.master
            asset.renditions = list(ladder.renditions)
            asset.poster, asset.thumbnails = ladder.poster, ladder.thumbnails
            asset.download = ladder.download
            self._save(asset)
        self._then(asset, "media.transcode")

    def transcribed(
        self, asset: MediaAsset, transcription: Transcription, *, model: str
    ) -> Transcription:
        """Store the transcript (the search index follows); returns it as stored, a
        specialist's earlier corrections included, for the captions."""
        transcripts = TranscriptService(self.session, SearchService(self.session))
        transcripts.store(self.lecture(asset), transcription, model=model)
        return transcripts.transcription(asset.lecture_id) or transcription

    def captioned(self, asset: MediaAsset, captions_key: str) -> None:
        asset.captions_key = captions_key
        self._save(asset)
        self._then(asset, "speech.transcribe")

    def publish(self, asset: MediaAsset) -> None:
        """The lecture becomes playable on demand (its transcript is indexed already)."""
        asset.state, asset.error = MediaState.READY, None
        self._save(asset)
        lecture = self.lecture(asset)
        lecture.status, lecture.updated_at = LectureStatus.PUBLISHED, utcnow()
        self.session.add(lecture)

    def failed(self, failure: JobFailure) -> None:
        """A step failed for good: the lecture and its media say so, with the step, the reason
        and whose it is to fix."""
        asset = self.current(failure.payload)
        if asset is None:
            return
        asset.state = MediaState.FAILED
        asset.error = _EXCEPTION_NAME.sub("", failure.error, count=1)[:2000]
        asset.failed_step, asset.failure_cause = failure.kind, failure.cause.value
        self._save(asset)
        lecture = self.lecture(asset)
        lecture.status, lecture.updated_at = LectureStatus.FAILED, utcnow()
        self.session.add(lecture)

    def _save(self, asset: MediaAsset) -> None:
        asset.updated_at = utcnow()
        self.session.add(asset)
        self.session.flush()


def pipeline_failed(session: Session, failure: JobFailure) -> None:
    """``on_failed`` hook of every step, run in the transaction that fails the job."""
    RecordingSteps(session).failed(failure)


def stale_attempts(keys: MediaKeys, listed: list[str], keep: str, generation: int) -> set[str]:
    """The attempt prefixes among ``listed`` object keys that were not switched in (failed,
    killed or superseded) — never those of a newer upload whose pipeline may be running."""
    stale = set()
    for key in listed:
        found = keys.attempt_of(key)
        if found is not None and found[0] != keep and found[1] <= generation:
            stale.add(found[0])
    return stale
