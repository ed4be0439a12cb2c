"""Running a worker: the Celery worker on the chosen queues, plus the sweep thread."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from celery import Celery
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from infra.db import make_engine, make_session_factory
from infra.jobs.engine import CeleryDispatcher, import_job_modules, make_celery
from infra.processes import die_with_parent
from infra.settings import Settings
from training.errors import ConfigurationError
from training.jobs.registry import QUEUES, registry
from training.jobs.services import JobService
from training.jobs.sweep import SweepService
from training.media.cleanup import CLEANUP_KIND, remove_work_dirs, work_dir_leftovers

log = logging.getLogger(__name__)


class Sweeper:
    """Every ``sweep_seconds``: re-announce jobs whose message was lost or whose worker died,
    and record that this worker lives; every ``cleanup_seconds`` (and once at start) queue the
    storage cleanup. Many sweepers may run at once; that is harmless: the periodic cleanup's
    dedupe key names its period, so it is queued once whoever queues it."""

    def __init__(self, settings: Settings, app: Celery, name: str, queues: str) -> None:
        self.settings = settings
        self.name = name
        self.queues = queues
        engine = make_engine(settings.database_url, pool_size=1)
        self.sessions = make_session_factory(engine)
        self.dispatcher = CeleryDispatcher(app, self.sessions)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="clinicast-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        with self.sessions() as session:
            JobService(session).forget_worker(self.name)

    def sweep_once(self) -> int:
        jobs = self.settings.jobs
        with self.sessions() as session:
            JobService(session).touch_worker(self.name, self.queues)
            due = SweepService(session).sweep(
                lease_seconds=jobs.lease_seconds, redispatch_after=jobs.redispatch_after
            )
        if due:
            log.info("sweep: announcing jobs %s again", [d.job_id for d in due])
            self.dispatcher.dispatch(due)
        return len(due)

    def queue_cleanup(self, *, at_start: bool = False) -> None:
        """Queue the storage cleanup job of this period (at start: one of this worker's own,
        after removing the scratch directories a killed worker left on this machine)."""
        every = self.settings.jobs.cleanup_seconds
        key = (
            f"{CLEANUP_KIND}:start:{self.name}"
            if at_start
            else f"{CLEANUP_KIND}:{int(time.time() // every)}"
        )
        with self.sessions() as session:
            if at_start:
                remove_work_dirs(work_dir_leftovers(session, self.settings.data_path / "work"))
            payload = {"retention_days": self.settings.storage.retention_days}
            JobService(session).enqueue(registry.get(CLEANUP_KIND), payload, dedupe_key=key)
            session.commit()  # announced by the next sweep

    def _loop(self) -> None:
        due = time.monotonic() + self.settings.jobs.cleanup_seconds
        self._run(lambda: self.queue_cleanup(at_start=True), "cleanup at start")
        while not self._stop.is_set():
            self._run(self.sweep_once, "sweep")
            if time.monotonic() >= due:
                due = time.monotonic() + self.settings.jobs.cleanup_seconds
                self._run(self.queue_cleanup, "queueing the storage cleanup")
            self._stop.wait(self.settings.jobs.sweep_seconds)

    @staticmethod
    def _run(action: Callable[[], object], what: str) -> None:
        try:
            action()
        except Exception:
            log.exception("%s failed; trying again", what)


def run_worker(
    settings: Settings, queues: list[str], *, concurrency: int, sweep: bool, loglevel: str = "INFO"
) -> None:
    """Run a Celery worker in this process until it is stopped (blocks)."""
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown:
        raise ConfigurationError(
            "--queues", f"unknown queues {unknown}; known: {', '.join(QUEUES)}"
        )
    import_job_modules(settings)
    app = make_celery(settings)
    name = f"clinicast-{os.getpid()}@{socket.gethostname()}"
    queue_list = ",".join(queues)
    sweeper = Sweeper(settings, app, name, queue_list) if sweep else None

    # Pool processes die with the worker that forked them, so a killed worker leaves no
    # orphan running a job that the sweep will hand to someone else.
    worker_process_init.connect(lambda **_: die_with_parent(), weak=False)
    if sweeper is not None:
        worker_ready.connect(lambda **_: sweeper.start(), weak=False)
        worker_shutdown.connect(lambda **_: sweeper.stop(), weak=False)
    app.worker_main(
        [
            "worker", f"--queues={queue_list}", f"--concurrency={concurrency}", f"--hostname={name}",
            f"--loglevel={loglevel}", "--pool=prefork", "--without-gossip", "--without-mingle",
            "--without-heartbeat",
        ]
    )  # fmt: skip
