"""Celery configuration, the one task that runs jobs of record, and the dispatcher."""

from __future__ import annotations

import importlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Celery
from kombu import Queue
from sqlmodel import Session

from infra.db import make_engine, make_session_factory
from infra.settings import Settings
from infra.storage.factory import blob_store_from_settings
from training.jobs.registry import BUILTIN_JOB_MODULES, QUEUES, JobRegistry, registry
from training.jobs.runner import JobRunner
from training.jobs.services import TransientRetry, take_pending_dispatches
from training.jobs.sweep import SweepService
from training.ports import Dispatch, WorkerTools

log = logging.getLogger(__name__)
RUN_JOB = "clinicast.run_job"


def celery_config(settings: Settings) -> dict[str, Any]:
    """Settings that make a lost or duplicated message harmless (the database decides)."""
    visibility = settings.jobs.visibility_timeout
    transport_options: dict[str, Any] = {
        "visibility_timeout": visibility,
        # Redis: look for unacked messages past their visibility timeout this often.
        "unacked_restore_interval": max(1, min(10, int(visibility // 2))),
        "unacked_restore_throttle": 1,
    }
    if settings.broker_url.startswith("sqla+"):
        # kombu's SQLAlchemy transport hands its options to create_engine; several processes
        # share the SQLite file, so wait for its lock rather than fail.
        transport_options = {"connect_args": {"timeout": 30}}
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "task_acks_late": True,  # ack after the run: a worker that dies leaves the message
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # a long transcode must not hold other jobs hostage
        "task_ignore_result": True,
        "result_backend": None,
        "task_default_queue": "default",
        "task_queues": [Queue(name) for name in QUEUES],
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
    }


def make_celery(settings: Settings) -> Celery:
    app = Celery("clinicast", set_as_current=False)
    app.conf.update(celery_config(settings))

    @app.task(name=RUN_JOB, ignore_result=True)
    def run_job(job_id: int) -> str:
        outcome = worker_runtime(settings).runner.run(job_id)
        log.info("job %s: %s", job_id, outcome)
        return outcome

    return app


class CeleryDispatcher:
    """Announces jobs on their queue, with their kind's time limits."""

    def __init__(
        self,
        app: Celery,
        session_factory: Callable[[], Session] | None = None,
        job_registry: JobRegistry = registry,
    ) -> None:
        self.app = app
        self.session_factory = session_factory
        self.registry = job_registry

    def dispatch(self, dispatches: list[Dispatch]) -> None:
        for item in dispatches:
            limits: dict[str, Any] = {}
            if item.kind in self.registry:
                kind = self.registry.get(item.kind)
                # A job's own limit (a transcode's, from its planned work) replaces its kind's;
                # the hard limit keeps the kind's grace after the soft one.
                soft = item.time_limit or kind.soft_time_limit
                hard = soft + (kind.time_limit - kind.soft_time_limit)
                limits = {"soft_time_limit": soft, "time_limit": hard}
            self.app.send_task(
                RUN_JOB,
                args=[item.job_id],
                queue=item.queue,
                countdown=item.countdown or None,
                **limits,
            )

    def after_commit(self, session: Session) -> None:
        """SQLAlchemy ``after_commit`` hook: announce what the transaction enqueued.

        A failure to reach the broker is logged, not raised: the job is stored, and the sweep
        announces it again.
        """
        pending = take_pending_dispatches(session)
        if not pending:
            return
        try:
            self.dispatch(pending)
        except Exception:
            log.exception("could not announce jobs %s; the sweep will", [d.job_id for d in pending])
            return
        if self.session_factory is not None:
            with self.session_factory() as own:
                SweepService(own).mark_dispatched([d.job_id for d in pending])


@dataclass
class WorkerRuntime:
    runner: JobRunner
    dispatcher: CeleryDispatcher


_runtimes: dict[tuple[int, int], WorkerRuntime] = {}


def _build_runtime(settings: Settings) -> WorkerRuntime:
    import_job_modules(settings)
    engine = make_engine(settings.database_url, pool_size=2)
    dispatcher = CeleryDispatcher(make_celery(settings))
    sessions = make_session_factory(engine, after_commit=dispatcher.after_commit)
    dispatcher.session_factory = sessions
    runner = JobRunner(
        session_factory=sessions,
        registry=registry,
        dispatcher=dispatcher,
        worker_name=f"{socket.gethostname()}:{os.getpid()}",
        heartbeat_seconds=settings.jobs.heartbeat_seconds,
        retry_backoff=settings.jobs.retry_backoff,
        transient_retry=TransientRetry(
            settings.jobs.transient_retry_seconds, settings.jobs.transient_backoff_max
        ),
        blobs=blob_store_from_settings(settings),
        tools=worker_tools(settings),
    )
    return WorkerRuntime(runner, dispatcher)


def worker_tools(settings: Settings) -> WorkerTools:
    """What this worker lends its jobs: FFmpeg, Whisper (its model is loaded on first use),
    and a scratch directory on the worker's disk."""
    # Imported here: the portal imports this module too and never needs FFmpeg or Whisper.
    from infra.media import FFmpegMediaProcessor  # noqa: PLC0415
    from infra.speech import WhisperTranscriber  # noqa: PLC0415

    speech = settings.speech
    return WorkerTools(
        media=FFmpegMediaProcessor(
            ffmpeg=settings.media.ffmpeg_binary,
            preset=settings.media.preset,
            max_height=settings.media.max_height,
            pixels_per_second=settings.media.encode_speed_mpixels * 1e6,
        ),
        transcriber=WhisperTranscriber(
            speech.model,
            data_dir=settings.data_path,
            device=speech.device,
            compute_type=speech.compute_type,
            beam_size=speech.beam_size,
            cpu_threads=speech.cpu_threads,
        ),
        speech_model=speech.model,
        workdir=settings.data_path / "work",
    )


def worker_runtime(settings: Settings) -> WorkerRuntime:
    """What a worker process runs jobs with, made once per process (after the fork: database
    connections and boto3 clients must not be shared between processes)."""
    # Keyed by the settings object itself, never by a serialised copy: a JSON dump masks the
    # secrets (the S3 secret key became "**********" and every worker read got 403).
    key = (os.getpid(), id(settings))
    runtime = _runtimes.get(key)
    if runtime is None:
        runtime = _runtimes[key] = _build_runtime(settings)
    return runtime


def import_job_modules(settings: Settings) -> list[str]:
    """Import the modules whose import registers job kinds: the platform's own and
    ``CLINICAST_JOBS__EXTRA_MODULES``."""
    names = [*BUILTIN_JOB_MODULES, *settings.jobs.extra_modules]
    for name in names:
        importlib.import_module(name)
    return names
