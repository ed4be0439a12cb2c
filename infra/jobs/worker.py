"""Running a worker: the Celery worker on the chosen queues, plus the sweep thread."""

from __future__ import annotations

import logging
import os
import socket
import threading

from celery import Celery
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from infra.db import make_engine, make_session_factory
from infra.jobs.engine import CeleryDispatcher, import_job_modules, make_celery
from infra.processes import die_with_parent
from infra.settings import Settings
from training.errors import ConfigurationError
from training.jobs.registry import QUEUES
from training.jobs.services import JobService
from training.jobs.sweep import SweepService

log = logging.getLogger(__name__)


class Sweeper:
    """Every ``sweep_seconds``: re-announce jobs whose message was lost or whose worker died,
    and record that this worker lives. Many sweepers may run at once; that is harmless."""

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

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep_once()
            except Exception:
                log.exception("sweep failed; trying again")
            self._stop.wait(self.settings.jobs.sweep_seconds)


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
