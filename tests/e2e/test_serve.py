"""`clinicast serve` as the README runs it: a fresh data directory, nothing else running; the
portal comes up with its embedded S3 server and a worker, answers /healthz and /readyz, runs a
job end to end, and takes its children down when it stops."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from infra.processes import port_is_free
from tests.conftest import REPO, free_s3_port, settings_env, wait_until
from tests.support.services import free_port

pytestmark = pytest.mark.slow


def test_serve_starts_storage_and_worker_then_stops_them(tmp_path: Path) -> None:
    web_port, s3_port = free_port(), free_s3_port()
    env = settings_env(
        {
            "CLINICAST_DATA_DIR": str(tmp_path / "data"),
            "CLINICAST_WEB__PORT": str(web_port),
            "CLINICAST_STORAGE__EMBEDDED_PORT": str(s3_port),
            "CLINICAST_JOBS__SWEEP_SECONDS": "1",
            "CLINICAST_JOBS__EXTRA_MODULES": '["tests.infra.jobkinds"]',
        }
    )
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "serve"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{web_port}"
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 120, "/readyz to answer 200 (database, embedded S3, broker, worker)")
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        checks = httpx.get(f"{base}/readyz").json()["checks"]
        assert all(check["ok"] for check in checks.values()), checks
        assert "县域医学远程培训" in httpx.get(f"{base}/").text

        # A job enqueued through the portal's database reaches the worker beside it.
        enqueue = subprocess.run(
            [sys.executable, "-c", ENQUEUE, str(tmp_path)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        job_id = int(enqueue.stdout.strip())
        wait_until((tmp_path / "effects.log").exists, 60, "the job to take effect")
        assert (tmp_path / "effects.log").read_text().split() == [str(job_id)]
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=60)
        log.close()
    assert port_is_free(s3_port), "the embedded S3 server was stopped with the portal"
    assert port_is_free(web_port)


ENQUEUE = """
import sys
import tests.infra.jobkinds
from infra.jobs.engine import CeleryDispatcher, make_celery
from infra.runtime import open_database
from infra.settings import load_settings
from training.pipeline.registry import registry
from training.pipeline.services import JobService

settings = load_settings()
dispatcher = CeleryDispatcher(make_celery(settings))
database = open_database(settings, after_commit=dispatcher.after_commit)
dispatcher.session_factory = database.sessions
with database.sessions() as session:
    job = JobService(session).enqueue(registry.get("test.effect"), {"dir": sys.argv[1], "steps": 2, "step_seconds": 0.1})
    session.commit()
    print(job.id)
"""
