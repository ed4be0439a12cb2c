"""The small protocols through which the domain reaches the outside world.

``infra`` implements them (S3 and local object storage, faster-whisper, the Celery job engine);
tests may pass simple implementations of their own to test the layers above a seam.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

ProgressCallback = Callable[[int], None]
"""Called with the number of bytes moved since the previous call."""


@dataclass(frozen=True)
class StoredObject:
    """What the object store knows about one object."""

    key: str
    size: int
    sha256: str | None = None
    content_type: str | None = None
    modified: datetime | None = None  # when it was written (listings give it; aware, UTC)


@dataclass(frozen=True)
class PendingUpload:
    """A multipart upload begun and neither completed nor aborted."""

    key: str
    upload_id: str
    initiated: datetime  # aware, UTC


class BlobStore(Protocol):
    """Object storage. Keys are ``/``-separated paths such as ``lectures/12/source.mp4``.

    A missing object raises :class:`FileNotFoundError`; other failures raise
    :class:`training.errors.StorageError` subclasses. Every object written through the store
    carries its SHA-256, and reads verify it (:class:`training.errors.IntegrityError`).
    """

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> StoredObject: ...

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str | None = None
    ) -> StoredObject: ...

    def get_file(
        self, key: str, path: Path, *, progress: ProgressCallback | None = None
    ) -> StoredObject: ...

    def get_bytes(self, key: str) -> bytes: ...

    def stat(self, key: str) -> StoredObject: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Iterator[StoredObject]: ...

    def copy(self, source_key: str, target_key: str) -> None: ...

    def delete(self, key: str) -> None: ...

    def delete_prefix(self, prefix: str) -> int: ...

    def url_for(self, key: str, *, expires_in: int, download_name: str | None = None) -> str | None:
        """A short-lived URL that fetches the object directly, or None where the store has none
        (the local directory store): then the portal serves the bytes itself. With
        ``download_name`` the response asks the browser to save the file under that name."""
        ...

    def check(self) -> None:
        """Raise a StorageError if the store cannot be used right now (readiness probes)."""
        ...

    def read_stream(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> Iterator[bytes]:
        """The bytes ``start`` to ``end`` (inclusive, None: to the end) in chunks, for serving
        media without holding a whole object in memory. Not checksum-verified (a range)."""
        ...

    # Resumable uploads: a browser sends a recording in parts; after a dropped connection it
    # asks which parts arrived and sends the rest. Parts are numbered from 1; all but the last
    # must be at least MIN_PART_SIZE.

    def start_upload(self, key: str, *, content_type: str | None = None) -> str:
        """Begin a multipart upload to ``key``; returns its id."""
        ...

    def put_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> None: ...

    def uploaded_parts(self, key: str, upload_id: str) -> dict[int, int]:
        """Part number → size of the parts received so far."""
        ...

    def complete_upload(self, key: str, upload_id: str) -> StoredObject: ...

    def abort_upload(self, key: str, upload_id: str) -> None: ...

    def pending_uploads(self, prefix: str) -> Iterator[PendingUpload]:
        """The multipart uploads under ``prefix`` still in progress (for the cleanup job)."""
        ...


MIN_PART_SIZE = 5 * 1024 * 1024
"""S3's smallest part but the last."""


@dataclass(frozen=True)
class SpeechSegment:
    """One stretch of recognised speech, in seconds from the start of the audio."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcription:
    """A whole transcript: the language spoken and its segments in order."""

    language: str
    duration: float
    segments: list[SpeechSegment] = field(default_factory=list)


class Transcriber(Protocol):
    """Speech-to-text. ``progress`` gets the share of the audio done, from 0.0 to 1.0."""

    def transcribe(
        self,
        audio: Path,
        *,
        language: str | None = None,
        initial_prompt: str | None = None,
        progress: Callable[[float], None] | None = None,
        cancelled: threading.Event | None = None,
    ) -> Transcription: ...


@dataclass(frozen=True)
class MediaSummary:
    """What probing a recording found, in the terms the portal shows."""

    duration: float
    has_video: bool
    has_audio: bool
    width: int | None = None
    height: int | None = None
    description: str = ""
    # Seconds the planned ladder's transcode may take (its pixels at the worker's speed,
    # with a margin): the one limit of the transcode step (``training.media.pipeline``).
    transcode_seconds: float | None = None


@dataclass(frozen=True)
class LadderOutput:
    """A finished HLS ladder in a local directory; paths are relative to ``outdir``."""

    outdir: Path
    master: str
    renditions: list[dict[str, object]]
    poster: str | None = None
    thumbnails: str | None = None
    download: str | None = None  # the smallest rendition as one file, for offline viewing
    audio: str | None = None  # the audio rendition's playlist: what speech-to-text reads


class MediaProcessor(Protocol):
    """FFmpeg, as the domain needs it. Bad input raises ``training.errors.InvalidMedia``."""

    def probe(self, source: Path) -> MediaSummary: ...

    def transcode(
        self,
        source: Path,
        outdir: Path,
        *,
        progress: Callable[[float], None] | None = None,
        cancelled: threading.Event | None = None,
        time_limit: float | None = None,
    ) -> LadderOutput:
        """The ladder of ``source`` in ``outdir``, within ``time_limit`` seconds (None: the
        processor's own estimate for the planned ladder)."""
        ...


@dataclass(frozen=True)
class Dispatch:
    """A job that must be (re)announced to the workers."""

    job_id: int
    kind: str
    queue: str
    countdown: float = 0.0
    time_limit: float | None = None  # seconds; None: the kind's own soft limit


class JobDispatcher(Protocol):
    """Announces jobs to the workers (the Celery seam in ``infra``)."""

    def dispatch(self, dispatches: list[Dispatch]) -> None: ...


@dataclass(frozen=True)
class WorkerTools:
    """What a worker lends the jobs it runs: FFmpeg, speech-to-text (with the name of its
    model, recorded with each transcript) and a scratch directory on its own disk. A worker
    that lacks a tool a job needs fails that job with a ``ConfigurationError``."""

    media: MediaProcessor | None = None
    transcriber: Transcriber | None = None
    speech_model: str = ""
    workdir: Path | None = None
