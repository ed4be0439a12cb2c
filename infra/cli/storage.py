"""Object storage commands: set up the bucket of an external S3 service, check it, delete
what no lecture uses any more."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import click

from infra.checks import check_storage
from infra.db import check_database
from infra.runtime import open_database
from infra.settings import load_settings
from infra.storage.bucket_setup import allow_origins, expire_abandoned_uploads
from infra.storage.factory import blob_store_from_settings
from training.errors import StorageError
from training.media.cleanup import (
    StorageCleanup,
    remove_work_dirs,
    work_dir_leftovers,
)


@click.group("storage")
def storage_group() -> None:
    """Object storage (the S3 bucket)."""


@storage_group.command("init")
@click.option(
    "--cors-origin",
    "origins",
    multiple=True,
    help="An origin browsers fetch media from S3 for (repeatable; default: the portal's "
    "CLINICAST_WEB__PUBLIC_BASE_URL).",
)
@click.option(
    "--abort-multipart-days",
    type=click.IntRange(min=1),
    default=7,
    show_default=True,
    help="Abort multipart uploads left unfinished this many days (abandoned uploads).",
)
def storage_init(origins: tuple[str, ...], abort_multipart_days: int) -> None:
    """Create the bucket if it is missing, allow the portal's origin to read media from it
    (CORS, for direct delivery) and abort abandoned multipart uploads (lifecycle).

    Idempotent. A server that does not support CORS or lifecycle rules is reported, not
    fatal: set them with the service's own tools then.
    """
    settings = load_settings()
    if settings.embedded_storage:
        click.echo("the embedded S3 server's bucket is set up by `clinicast serve`; nothing to do")
        return
    created = check_storage(settings, create_bucket=True)
    bucket = settings.storage.bucket
    click.echo(f"bucket {bucket}: {'created' if created else 'exists'}, a write and a read work")
    store = blob_store_from_settings(settings)
    allowed = list(origins) or [settings.public_base_url]
    _apply(f"CORS for {', '.join(allowed)}", lambda: allow_origins(store, allowed))
    _apply(
        f"abort multipart uploads unfinished after {abort_multipart_days} days",
        lambda: expire_abandoned_uploads(store, abort_multipart_days),
    )


def _apply(what: str, action: Callable[[], None]) -> None:
    try:
        action()
    except StorageError as exc:
        click.echo(f"{what}: not set ({exc})")
    else:
        click.echo(f"{what}: set")


@storage_group.command("check")
def storage_check() -> None:
    """Prove that the bucket takes a write and gives it back (exit status 2 if not)."""
    settings = load_settings()
    check_storage(settings)
    click.echo(
        f"bucket {settings.storage.bucket} at {settings.storage_endpoint}: a write and a read work"
    )


@storage_group.command("gc")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted, with sizes.")
@click.option(
    "--retention-days",
    type=click.FloatRange(min=0),
    default=None,
    help="Keep leftovers younger than this (default: CLINICAST_STORAGE__RETENTION_DAYS).",
)
def storage_gc(dry_run: bool, retention_days: float | None) -> None:
    """Delete what no lecture uses any more: older uploads and captions, transcode attempts
    never switched in, abandoned multipart uploads (all older than the retention), and this
    machine's scratch directories of jobs no longer running. Never what a lecture shows or a
    running job uses. The `storage.cleanup` job does the same periodically. In the embedded
    mode run it while `clinicast serve` runs (it holds the S3 server)."""
    settings = load_settings()
    days = settings.storage.retention_days if retention_days is None else retention_days
    database = open_database(settings)
    check_database(database.engine)
    with database.sessions() as session:
        cleanup = StorageCleanup(
            session, blob_store_from_settings(settings), retention=timedelta(days=days)
        )
        leftovers = cleanup.leftovers()
        scratch = work_dir_leftovers(session, settings.data_path / "work")
    for item in [*leftovers, *scratch]:
        click.echo(f"{_size(item.size):>10}  {item.reason}: {item.name}")
    total = sum(item.size for item in [*leftovers, *scratch])
    count = len(leftovers) + len(scratch)
    if dry_run:
        click.echo(f"would delete {count} leftovers, {_size(total)} (older than {days:g} days)")
        return
    freed = cleanup.remove(leftovers) + remove_work_dirs(scratch)
    click.echo(f"deleted {count} leftovers, {_size(freed)}")


def _size(size: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


COMMANDS = (storage_group,)
