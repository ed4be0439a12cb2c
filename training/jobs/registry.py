"""Job kinds: what a job of each kind runs, on which queue, within which limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlmodel import Session

    from training.jobs.context import JobContext

QUEUES = ("media", "speech", "io", "default")
"""media: ffmpeg; speech: Whisper (a GPU worker takes it where one exists); io: storage
copies and other waiting; default: everything small."""

JobHandler = Callable[["JobContext", dict[str, Any]], None]


class FailureCause(StrEnum):
    """Why a job failed for good, which says whose it is to fix."""

    INPUT = "input"  # bad input (ValidationError): the uploader's to fix
    SETTINGS = "settings"  # bad settings or credentials: the operator's to fix
    EXHAUSTED = "exhausted"  # attempts used up, or transient failures for too long: retry later


@dataclass(frozen=True)
class JobFailure:
    """A job that failed for good, as its kind's ``on_failed`` hook sees it."""

    job_id: int
    kind: str
    payload: dict[str, Any]
    error: str
    attempts: int
    cause: FailureCause


FailureHook = Callable[["Session", JobFailure], None]
"""Runs in the transaction that records the failure, so the job and what depends on it (a
lecture's state) never disagree."""


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: JobHandler
    queue: str = "default"
    max_attempts: int = 3
    soft_time_limit: int = 3600  # seconds; the handler gets an exception and can clean up
    time_limit: int = 3660  # seconds; the worker process is killed
    on_failed: FailureHook | None = None


def own_time_limit(payload: dict[str, Any]) -> float | None:
    """The soft time limit a job carries in its payload (``time_limit``, seconds: e.g. a
    transcode's, derived from its planned work), overriding its kind's; None if it has none."""
    own = payload.get("time_limit")
    return float(own) if isinstance(own, (int, float)) and own > 0 else None


class JobRegistry:
    """Maps a kind's name to its JobKind. Modules of ``training/<area>/jobs.py`` register
    their kinds with the ``kind`` decorator when imported."""

    def __init__(self) -> None:
        self._kinds: dict[str, JobKind] = {}

    def kind(
        self,
        name: str,
        *,
        queue: str = "default",
        max_attempts: int = 3,
        soft_time_limit: int = 3600,
        time_limit: int | None = None,
        on_failed: FailureHook | None = None,
    ) -> Callable[[JobHandler], JobHandler]:
        if queue not in QUEUES:
            raise ValueError(f"job kind {name}: unknown queue {queue!r} (one of {QUEUES})")

        def register(handler: JobHandler) -> JobHandler:
            self._kinds[name] = JobKind(
                name=name,
                handler=handler,
                queue=queue,
                max_attempts=max_attempts,
                soft_time_limit=soft_time_limit,
                time_limit=time_limit or soft_time_limit + 60,
                on_failed=on_failed,
            )
            return handler

        return register

    def get(self, name: str) -> JobKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise KeyError(f"no job kind {name!r} is registered") from None

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[JobKind]:
        return iter(self._kinds.values())


registry = JobRegistry()
"""The process-wide registry that the worker runs jobs from."""

BUILTIN_JOB_MODULES: tuple[str, ...] = ("training.media.jobs", "training.media.cleanup")
"""Modules whose import registers the platform's own job kinds (grows with each area)."""
