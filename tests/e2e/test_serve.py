"""`clinicast serve` as the README runs it: a fresh data directory, nothing else running; the
portal comes up with its embedded S3 server and a worker, answers /healthz and /readyz, runs a
job end to end, and takes its children down when it stops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from infra.processes import port_is_free
from tests.conftest import REPO, wait_until
from tests.support.portal import LivePortal

pytestmark = pytest.mark.slow


def test_serve_starts_storage_and_worker_then_stops_them(tmp_path: Path) -> None:
    operator = {"authorization": "Bearer " + "o" * 32}  # readiness detail is for operators
    portal = LivePortal(
        tmp_path / "data",
        {
            "CLINICAST_JOBS__EXTRA_MODULES": '["tests.support.jobkinds"]',
            "CLINICAST_WEB__METRICS_TOKEN": "o" * 32,
        },
    )
    with portal:
        base = portal.base_url
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        checks = httpx.get(f"{base}/readyz", headers=operator).json()["checks"]
        assert all(check["ok"] for check in checks.values()), checks
        assert "县域医学远程培训" in httpx.get(f"{base}/").text

        # A job enqueued through the portal's database reaches the worker beside it.
        job_id = _enqueue(portal, tmp_path)
        wait_until((tmp_path / "effects.log").exists, 60, "the job to take effect")
        assert (tmp_path / "effects.log").read_text().split() == [str(job_id)]
    assert port_is_free(portal.s3_port), "the embedded S3 server was stopped with the portal"
    assert port_is_free(portal.web_port)


def _enqueue(portal: LivePortal, folder: Path) -> int:
    result = subprocess.run(
        [sys.executable, "-c", ENQUEUE, str(folder)],
        env=portal.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(result.stdout.strip())


ENQUEUE = """
import sys
import tests.support.jobkinds
from infra.jobs.engine import CeleryDispatcher, make_celery
from infra.runtime import open_database
from infra.settings import load_settings
from training.jobs.registry import registry
from training.jobs.services import JobService

settings = load_settings()
dispatcher = CeleryDispatcher(make_celery(settings))
database = open_database(settings, after_commit=dispatcher.after_commit)
dispatcher.session_factory = database.sessions
with database.sessions() as session:
    job = JobService(session).enqueue(registry.get("test.effect"), {"dir": sys.argv[1], "steps": 2, "step_seconds": 0.1})
    session.commit()
    print(job.id)
"""
