"""Object storage commands: set up the bucket of an external S3 service, check it."""

from __future__ import annotations

from collections.abc import Callable

import click

from infra.checks import check_storage
from infra.settings import load_settings
from infra.storage.factory import blob_store_from_settings
from training.errors import StorageError


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
    _apply(f"CORS for {', '.join(allowed)}", lambda: store.allow_origins(allowed))
    _apply(
        f"abort multipart uploads unfinished after {abort_multipart_days} days",
        lambda: store.expire_abandoned_uploads(abort_multipart_days),
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


COMMANDS = (storage_group,)
