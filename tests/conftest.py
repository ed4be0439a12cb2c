"""Shared fixtures: real SeaweedFS, real SQLite and PostgreSQL, real Redis, real workers."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine
from sqlmodel import Session

from infra.db import make_engine, make_session_factory, upgrade
from infra.processes import port_is_free
from infra.settings import Settings
from infra.speech import WhisperTranscriber
from infra.storage.s3 import S3BlobStore
from infra.storage.s3_client import make_s3_client
from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.support.services import fresh_postgres_database, postgres_server, redis_server
from training.accounts import services as account_services

pytest_plugins = ["tests.support.clips"]  # clip, ladder_of, bad_inputs

REPO = Path(__file__).resolve().parent.parent
S3_ACCESS_KEY = "clinicast-test"
S3_SECRET_KEY = "clinicast-test-secret-key-0123456789"


def free_s3_port() -> int:
    """A port p such that p..p+3 and their +10000 gRPC twins are all free."""
    for _ in range(200):
        base = random.randrange(20000, 29990)
        if all(
            port_is_free(p) for p in (*range(base, base + 4), *range(base + 10000, base + 10004))
        ):
            return base
    raise RuntimeError("no free block of ports for SeaweedFS")


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with its smallest cost in this process: production parameters take ~0.4 s a
    hash on a busy 2-core machine, and seeding makes several users per test. The parameters are
    in the hash, so verification is the same code; the CLI and portal subprocesses keep the
    real ones (tests/infra/test_cli.py, tests/e2e, tests/browser)."""
    monkeypatch.setattr(
        account_services, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@pytest.fixture(scope="session")
def embedded_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSeaweedFS]:
    server = EmbeddedSeaweedFS(
        tmp_path_factory.mktemp("seaweedfs"),
        s3_port=free_s3_port(),
        access_key=S3_ACCESS_KEY,
        secret_key=S3_SECRET_KEY,
        bucket="clinicast-test",
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_store(embedded_s3: EmbeddedSeaweedFS) -> S3BlobStore:
    client = make_s3_client(embedded_s3.endpoint_url, S3_ACCESS_KEY, S3_SECRET_KEY)
    return S3BlobStore(
        client,
        embedded_s3.bucket,
        multipart_threshold=8 * 1024 * 1024,
        multipart_chunksize=8 * 1024 * 1024,
    )


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on SQLite (embedded) and PostgreSQL (scale-out)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'clinicast.sqlite'}"
        return
    admin = request.getfixturevalue("postgres_admin_url")
    with fresh_postgres_database(admin) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> Callable[[], Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(sessions: Callable[[], Session]) -> Iterator[Session]:
    with sessions() as db_session:
        yield db_session


def settings_env(values: dict[str, str]) -> dict[str, str]:
    """The environment of a child process: ours, less any CLINICAST_ variable, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICAST_")}
    env["PYTHONPATH"] = str(REPO)
    return {**env, **values}


@pytest.fixture
def embedded_settings_env(tmp_path: Path, embedded_s3: EmbeddedSeaweedFS) -> dict[str, str]:
    """Embedded mode (SQLite, sqla+sqlite broker) against the session's SeaweedFS, with short
    leases and sweeps so recovery happens within a test."""
    return {
        "CLINICAST_DATA_DIR": str(tmp_path / "data"),
        "CLINICAST_STORAGE__ENDPOINT_URL": embedded_s3.endpoint_url,
        "CLINICAST_STORAGE__BUCKET": embedded_s3.bucket,
        "CLINICAST_STORAGE__ACCESS_KEY": S3_ACCESS_KEY,
        "CLINICAST_STORAGE__SECRET_KEY": S3_SECRET_KEY,
        "CLINICAST_JOBS__HEARTBEAT_SECONDS": "0.5",
        "CLINICAST_JOBS__LEASE_SECONDS": "3",
        "CLINICAST_JOBS__SWEEP_SECONDS": "1",
        "CLINICAST_JOBS__REDISPATCH_AFTER": "5",
        "CLINICAST_JOBS__RETRY_BACKOFF": "0.2",
        "CLINICAST_JOBS__EXTRA_MODULES": '["tests.support.jobkinds"]',
    }


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in [k for k in os.environ if k.startswith("CLINICAST_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


class WorkerProcess:
    """``clinicast worker`` in its own process group, so a test can SIGKILL all of it."""

    def __init__(
        self, env: dict[str, str], log_path: Path, queues: str = "default", concurrency: int = 1
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "worker", "-Q", queues, "-c", str(concurrency)],
            env=settings_env(env), cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL the worker and its pool: the machine it ran on is gone."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Cold shutdown (SIGQUIT): the test is over, running jobs need not finish."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    workers: list[WorkerProcess] = []

    def start(env: dict[str, str], queues: str = "default", concurrency: int = 1) -> WorkerProcess:
        worker = WorkerProcess(env, tmp_path / f"worker-{len(workers)}.log", queues, concurrency)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_until(
    predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2
) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


SPEECH_FIXTURES = REPO / "tests" / "fixtures" / "speech"


@pytest.fixture(scope="session")
def speech_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data dir whose ``models/`` holds the assembled Whisper model (reused across
    sessions when ``CLINICAST_TEST_MODEL_CACHE`` is set, as ``make test`` does)."""
    cache = os.environ.get("CLINICAST_TEST_MODEL_CACHE")
    if cache:
        Path(cache).mkdir(parents=True, exist_ok=True)
        return Path(cache)
    return tmp_path_factory.mktemp("speech-data")


@pytest.fixture(scope="session")
def transcriber(speech_data_dir: Path) -> WhisperTranscriber:
    """The real faster-whisper transcriber on the PyPI-packaged base model, loaded once."""
    whisper = WhisperTranscriber("base", data_dir=speech_data_dir, device="cpu", cpu_threads=2)
    whisper.load()
    return whisper
