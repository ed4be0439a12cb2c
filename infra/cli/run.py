"""Long-running commands: the portal and the workers."""

from __future__ import annotations

import logging
import os
import sys

import click

from infra.checks import check_broker, check_schema_is_current, check_storage
from infra.db import upgrade
from infra.processes import SupervisedProcess, port_is_free
from infra.runtime import open_database
from infra.settings import Settings, load_settings
from infra.storage.seaweed import EmbeddedSeaweedFS
from training.errors import ConfigurationError
from training.jobs.registry import QUEUES

log = logging.getLogger(__name__)


@click.command("worker")
@click.option(
    "--queues",
    "-Q",
    default=",".join(QUEUES),
    show_default=True,
    help="Comma-separated queues to take jobs from.",
)
@click.option(
    "--concurrency", "-c", type=int, help="Jobs run at once (default: CLINICAST_JOBS__CONCURRENCY)."
)
@click.option(
    "--sweep/--no-sweep",
    default=True,
    show_default=True,
    help="Also run the sweep that recovers lost jobs.",
)
def worker_command(queues: str, concurrency: int | None, sweep: bool) -> None:
    """Run a worker (Celery) that takes jobs from the given queues.

    It first checks the database (reachable, schema current), the broker and the object store
    (a write and a read), and stops with one line naming the setting if one is unusable.
    A GPU machine takes the `speech` queue: `clinicast worker -Q speech`.
    """
    from infra.jobs.worker import run_worker

    settings = load_settings()
    # Stop now, with one line naming the setting, rather than fail every job later.
    check_schema_is_current(open_database(settings).engine)
    check_broker(settings)
    if not settings.embedded_storage:  # the embedded S3 server is the portal's to start
        check_storage(settings)
    run_worker(
        settings,
        [q.strip() for q in queues.split(",") if q.strip()],
        concurrency=concurrency or settings.jobs.concurrency,
        sweep=sweep,
    )


def start_embedded_storage(settings: Settings) -> EmbeddedSeaweedFS:
    access_key, secret_key = settings.storage_credentials()
    server = EmbeddedSeaweedFS(
        settings.data_path / "seaweedfs",
        s3_port=settings.storage.embedded_port,
        access_key=access_key,
        secret_key=secret_key,
        bucket=settings.storage.bucket,
    )
    server.start()
    return server


@click.command("serve")
@click.option("--host", help="Address to listen on (default: CLINICAST_WEB__HOST).")
@click.option("--port", type=int, help="Port to listen on (default: CLINICAST_WEB__PORT).")
@click.option(
    "--with-worker/--no-worker",
    default=True,
    show_default=True,
    help="Run a worker (and the sweep) beside the portal.",
)
@click.option(
    "--migrate/--no-migrate",
    default=True,
    show_default=True,
    help="Upgrade the database schema first.",
)
def serve_command(host: str | None, port: int | None, with_worker: bool, migrate: bool) -> None:
    """Run the portal; in the embedded mode also the S3 server and a worker.

    With an external S3 service it creates a missing bucket where the credentials allow
    (`clinicast storage init` does the rest of the bucket's set-up).
    """
    import uvicorn

    # The portal (web.app's factory, imported by uvicorn) reads its settings from the same
    # environment, so command-line overrides go there.
    if host:
        os.environ["CLINICAST_WEB__HOST"] = host
    if port:
        os.environ["CLINICAST_WEB__PORT"] = str(port)
    settings = load_settings()
    if not port_is_free(settings.web.port, settings.web.host):
        raise ConfigurationError(
            "CLINICAST_WEB__PORT", f"port {settings.web.port} on {settings.web.host} is in use"
        )
    database = open_database(settings)
    if migrate:
        upgrade(database.engine)
    else:
        check_schema_is_current(database.engine)
    children: list[EmbeddedSeaweedFS | SupervisedProcess] = []
    try:
        if settings.embedded_storage:
            click.echo(
                f"starting the embedded S3 server on port {settings.storage.embedded_port} …"
            )
            children.append(start_embedded_storage(settings))
        elif check_storage(settings, create_bucket=True):
            click.echo(f"created the bucket {settings.storage.bucket}")
        if with_worker:
            children.append(start_worker_beside(settings))
        click.echo(f"Clinicast portal on {settings.public_base_url}")
        uvicorn.run(
            "web.app:create_app_from_environment", factory=True,
            host=settings.web.host, port=settings.web.port, log_level="info",
            access_log=settings.web.access_log,
        )  # fmt: skip
    finally:
        for child in reversed(children):
            child.stop()


def start_worker_beside(settings: Settings) -> SupervisedProcess:
    """A worker process beside the portal, restarted if it dies."""
    worker = SupervisedProcess(
        "worker",
        [sys.executable, "-m", "infra.cli", "worker"],
        settings.data_path / "logs" / "worker.log",
        stop_timeout=30.0,
    )
    worker.start()
    return worker


COMMANDS = (worker_command, serve_command)
