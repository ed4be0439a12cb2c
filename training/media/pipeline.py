"""The recording pipeline, stated once: its steps in order, the key that keeps each step of an
upload from being queued twice, and where a lecture's media lives in the object store.

    upload complete → media.probe → media.transcode → speech.transcribe → lectures.publish

Each step is a job (``training/media/jobs.py``) of one upload (``generation``): a re-upload
starts a new generation, and the jobs of the old one find themselves superseded and stop.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    kind: str  # the job kind that runs it
    label: str  # what people see (translated by the portal)


STEPS: tuple[Step, ...] = (
    Step("media.probe", "Check the recording"),
    Step("media.transcode", "Transcode for every link"),
    Step("speech.transcribe", "Transcribe speech"),
    Step("lectures.publish", "Publish"),
)
FIRST_STEP = STEPS[0].kind
LABELS = {step.kind: step.label for step in STEPS}


def next_step(kind: str) -> str | None:
    """The step after ``kind``, or None after the last."""
    kinds = [step.kind for step in STEPS]
    position = kinds.index(kind)
    return kinds[position + 1] if position + 1 < len(kinds) else None


TRANSFER_BYTES_PER_SECOND = 5_000_000
"""A conservative speed of object storage for a worker: fetching the source, storing the ladder."""
TRANSFER_SECONDS = 1800.0


def transcode_job_limit(transcode_seconds: float, source_size: int) -> float:
    """The transcode step's one time limit: the planned ladder's own (``transcode_seconds``,
    what ffmpeg gets) plus the time to fetch the source and store a ladder of about its size.
    The job engine stops the job at this limit; the transcoder stops ffmpeg at its part."""
    return transcode_seconds + TRANSFER_SECONDS + 2 * source_size / TRANSFER_BYTES_PER_SECOND


def step_key(kind: str, lecture_id: int, generation: int) -> str:
    """The dedupe key of one step of one upload: the same step is never queued twice."""
    return f"{kind}:lecture:{lecture_id}:g{generation}"


@dataclass(frozen=True)
class MediaKeys:
    """The object-key layout of one lecture's media::

    lectures/12/source/3/source.mp4         the recording of upload 3, kept as it came
    lectures/12/attempts/g3-1-1a2b3c4d/…    a transcode attempt's ladder (switched in whole)
    lectures/12/captions/g3.vtt             the captions of upload 3
    """

    lecture_id: int

    @property
    def root(self) -> str:
        return f"lectures/{self.lecture_id}/"

    def source(self, generation: int, filename: str) -> str:
        extension = posixpath.splitext(filename)[1].lower()
        extension = extension if extension[1:].isalnum() and len(extension) <= 6 else ""
        return f"{self.root}source/{generation}/source{extension}"

    @property
    def attempts(self) -> str:
        return f"{self.root}attempts/"

    def attempt(self, generation: int, attempt_tag: str) -> str:
        """Where one transcode attempt of upload ``generation`` writes its ladder."""
        return f"{self.attempts}g{generation}-{attempt_tag}/"

    def attempt_of(self, key: str) -> tuple[str, int] | None:
        """The attempt prefix a key lies under and its upload's generation (None: no attempt)."""
        if not key.startswith(self.attempts) or "/" not in key[len(self.attempts) :]:
            return None
        name = key[len(self.attempts) :].split("/", 1)[0]
        generation = name[1:].split("-", 1)[0]
        if not name.startswith("g") or not generation.isdigit():
            return None
        return f"{self.attempts}{name}/", int(generation)

    def captions(self, generation: int) -> str:
        return f"{self.root}captions/g{generation}.vtt"
