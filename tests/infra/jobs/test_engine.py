"""The job engine end to end: real Celery workers in their own processes, on the serverless
SQLite broker (embedded mode) and on Redis (scale-out), with the job of record in our database."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tests.support.jobkinds  # noqa: F401 - registers the test job kinds in this process too
from infra.db import upgrade
from infra.jobs.engine import CeleryDispatcher, make_celery, worker_runtime
from infra.runtime import Database, open_database
from infra.settings import Settings
from tests.conftest import WorkerProcess, settings_from, wait_until
from training.jobs.models import Job, JobStatus
from training.jobs.registry import registry
from training.jobs.services import JobService

pytestmark = pytest.mark.slow


class Engine:
    """The portal's side of the job engine: enqueue in a transaction, announce after commit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dispatcher = CeleryDispatcher(make_celery(settings))
        self.database: Database = open_database(settings, after_commit=self.dispatcher.after_commit)
        self.dispatcher.session_factory = self.database.sessions
        upgrade(self.database.engine)

    def enqueue(self, kind: str, payload: dict[str, object]) -> int:
        with self.database.sessions() as session:
            job = JobService(session).enqueue(registry.get(kind), payload)
            session.commit()
            assert job.id is not None
            return job.id

    def job(self, job_id: int) -> Job:
        with self.database.sessions() as session:
            return JobService(session).get(job_id)

    def wait_status(self, job_id: int, status: JobStatus, timeout: float) -> Job:
        wait_until(
            lambda: self.job(job_id).status is status, timeout, f"job {job_id} to be {status.value}"
        )
        return self.job(job_id)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def embedded_engine(
    embedded_settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Engine, dict[str, str]]]:
    engine = Engine(settings_from(embedded_settings_env, monkeypatch))
    assert engine.settings.broker_url.startswith("sqla+sqlite:")
    yield engine, embedded_settings_env
    engine.database.engine.dispose()


@pytest.fixture
def redis_engine(
    embedded_settings_env: dict[str, str],
    redis_url: str,
    postgres_admin_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Engine, dict[str, str]]]:
    from tests.support.services import fresh_postgres_database

    with fresh_postgres_database(postgres_admin_url) as database_url:
        env = {
            **embedded_settings_env,
            "CLINICAST_DATABASE__URL": database_url,
            "CLINICAST_JOBS__BROKER_URL": redis_url,
            "CLINICAST_JOBS__VISIBILITY_TIMEOUT": "2",
        }
        engine = Engine(settings_from(env, monkeypatch))
        yield engine, env
        engine.database.engine.dispose()


def test_embedded_job_runs_end_to_end_on_the_sqlite_broker(
    embedded_engine: tuple[Engine, dict[str, str]],
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    engine, env = embedded_engine
    start_worker(env)
    job_id = engine.enqueue("test.effect", {"dir": str(tmp_path), "steps": 3, "step_seconds": 0.1})
    job = engine.wait_status(job_id, JobStatus.SUCCEEDED, 60)
    assert (job.attempts, job.progress) == (1, 1.0)
    assert lines(tmp_path / "effects.log") == [str(job_id)]


def test_progress_is_recorded_while_a_job_runs(
    embedded_engine: tuple[Engine, dict[str, str]],
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    engine, env = embedded_engine
    start_worker(env)
    job_id = engine.enqueue(
        "test.effect", {"dir": str(tmp_path), "steps": 20, "step_seconds": 0.25}
    )
    seen = wait_until(
        lambda: 0 < engine.job(job_id).progress < 1 and engine.job(job_id).message, 60, "progress"
    )
    assert seen
    assert engine.job(job_id).message.startswith("step ")
    engine.wait_status(job_id, JobStatus.SUCCEEDED, 60)


def _kill_mid_run_and_recover(
    engine: Engine,
    workers: list[WorkerProcess],
    tmp_path: Path,
    after_kill: Callable[[], object] = lambda: None,
) -> None:
    """Enqueue a long job, SIGKILL whichever worker runs it (then ``after_kill``), and check
    that the job is finished by another worker, once in effect."""
    job_id = engine.enqueue(
        "test.effect", {"dir": str(tmp_path), "steps": 40, "step_seconds": 0.25}
    )
    wait_until(
        lambda: (
            engine.job(job_id).status is JobStatus.RUNNING and engine.job(job_id).progress > 0.1
        ),
        60,
        "the job to be mid-run",
    )
    leased_by = engine.job(job_id).leased_by or ""
    pool_pid = int(leased_by.rsplit(":", 1)[1])  # host:pid of the pool process running it
    running = next(w for w in workers if os.getpgid(pool_pid) == w.process.pid)
    running.kill()
    after_kill()
    job = engine.wait_status(job_id, JobStatus.SUCCEEDED, 90)
    starts = lines(tmp_path / "starts.log")
    assert len(starts) == 2, starts  # started twice: once on the killed worker, once after
    assert job.attempts == 2
    assert lines(tmp_path / "effects.log") == [str(job_id)]  # ...and took effect exactly once
    assert (tmp_path / f"result-{job_id}.txt").read_text() == f"job {job_id} done by attempt 2"


def test_embedded_job_whose_worker_is_sigkilled_runs_again_and_takes_effect_once(
    embedded_engine: tuple[Engine, dict[str, str]],
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    engine, env = embedded_engine
    # One worker; after it dies, a replacement comes up while the job is stranded.
    _kill_mid_run_and_recover(engine, [start_worker(env)], tmp_path, lambda: start_worker(env))


@pytest.mark.scaleout
def test_redis_job_whose_worker_is_sigkilled_runs_again_and_takes_effect_once(
    redis_engine: tuple[Engine, dict[str, str]],
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    engine, env = redis_engine
    # Two workers: whichever takes the job dies, the other finishes it.
    _kill_mid_run_and_recover(engine, [start_worker(env), start_worker(env)], tmp_path)


@pytest.mark.scaleout
def test_redis_job_longer_than_the_visibility_timeout_runs_once(
    redis_engine: tuple[Engine, dict[str, str]],
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    engine, env = redis_engine
    start_worker(env)
    start_worker(env)
    job_id = engine.enqueue("test.effect", {"dir": str(tmp_path), "steps": 16, "step_seconds": 0.5})
    job = engine.wait_status(job_id, JobStatus.SUCCEEDED, 90)
    assert job.deliveries >= 2, "Redis redelivered the message after the 2 s visibility timeout"
    assert len(lines(tmp_path / "starts.log")) == 1  # but the job itself started once
    assert lines(tmp_path / "effects.log") == [str(job_id)]


def test_poison_job_stops_after_its_attempts_with_the_error_shown(
    embedded_engine: tuple[Engine, dict[str, str]],
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    engine, env = embedded_engine
    start_worker(env)
    job_id = engine.enqueue("test.poison", {"dir": str(tmp_path), "name": "lecture-7.mp4"})
    job = engine.wait_status(job_id, JobStatus.FAILED, 60)
    assert job.attempts == job.max_attempts == 3
    assert job.error is not None
    assert "corrupt input in lecture-7.mp4" in job.error
    assert len(lines(tmp_path / "starts.log")) == 3


def test_job_whose_message_was_lost_is_announced_again_by_the_sweep(
    embedded_engine: tuple[Engine, dict[str, str]],
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    engine, env = embedded_engine
    with engine.database.sessions() as session:
        job = JobService(session).enqueue(
            registry.get("test.effect"), {"dir": str(tmp_path), "steps": 1}
        )
        session.info.clear()  # the broker never hears of it, as if the send had failed
        session.commit()
        job_id = job.id
    assert job_id is not None
    start_worker(env)
    engine.wait_status(job_id, JobStatus.SUCCEEDED, 60)
    assert lines(tmp_path / "effects.log") == [str(job_id)]


def test_cancelled_job_stops_at_its_next_heartbeat(
    embedded_engine: tuple[Engine, dict[str, str]],
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    engine, env = embedded_engine
    start_worker(env)
    job_id = engine.enqueue(
        "test.effect", {"dir": str(tmp_path), "steps": 100, "step_seconds": 0.2}
    )
    wait_until(lambda: engine.job(job_id).status is JobStatus.RUNNING, 60, "the job to start")
    with engine.database.sessions() as session:
        JobService(session).cancel(job_id)
        session.commit()
    wait_until(
        lambda: "cancelled" in "".join(Path(p).read_text() for p in tmp_path.glob("worker-*.log")),
        30,
        "the worker to stop the job",
    )
    assert engine.job(job_id).status is JobStatus.CANCELLED
    assert not (tmp_path / "effects.log").exists()


def test_a_worker_signs_storage_requests_with_the_configured_secret_not_its_mask(
    embedded_settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_from(embedded_settings_env, monkeypatch)
    assert settings.storage.secret_key is not None  # an external S3 with its own keys
    blobs = worker_runtime(settings).runner.blobs
    assert blobs is not None
    blobs.check()  # a write and a read: refused (403) when the secret sent is "**********"
