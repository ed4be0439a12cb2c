"""Start-up checks of what the settings name: the database (reachable, schema up to date), the
job broker, and the object store (a write and a read). Entry points (``serve``, ``worker``,
``storage check``) run them so that a process with settings it cannot use stops at once with
one line naming the setting, instead of failing every job later."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from infra.db import alembic_config, check_database, current_revision
from infra.settings import Settings, mask_url
from infra.storage.factory import blob_store_from_settings
from training.errors import (
    BucketMissing,
    ConfigurationError,
    StorageAuthError,
    StorageError,
)

BROKER_SETTING = "CLINICAST_JOBS__BROKER_URL"


def check_schema_is_current(engine: Engine) -> None:
    """The database is reachable and migrated to the code's head revision."""
    check_database(engine)
    url = engine.url.render_as_string(hide_password=False)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    current = current_revision(engine)
    if current != head:
        raise ConfigurationError(
            "CLINICAST_DATABASE__URL",
            f"the database schema is at {current or 'nothing'}, the code needs {head}: "
            "run `clinicast db upgrade`",
        )


def check_broker(settings: Settings, timeout: int = 5) -> None:
    """The Celery broker accepts a connection."""
    from kombu import Connection  # noqa: PLC0415 - only entry points that check need kombu

    url = settings.broker_url
    try:
        with Connection(url, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - kombu raises a transport's own errors
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigurationError(
            BROKER_SETTING, f"cannot connect to the job broker {mask_url(url)}: {reason}"
        ) from None


def check_storage(settings: Settings, *, create_bucket: bool = False) -> bool:
    """The object store takes a write and gives it back; with ``create_bucket`` a missing
    bucket is created first where the credentials allow. Returns True if it was created."""
    store = blob_store_from_settings(settings)
    where = settings.storage_endpoint
    try:
        created = store.ensure_bucket() if create_bucket else False
        store.check()
    except StorageAuthError as exc:
        raise ConfigurationError(
            "CLINICAST_STORAGE__SECRET_KEY", f"object storage at {where}: {exc}"
        ) from None
    except BucketMissing as exc:
        raise ConfigurationError("CLINICAST_STORAGE__BUCKET", str(exc)) from None
    except StorageError as exc:
        raise ConfigurationError(
            "CLINICAST_STORAGE__ENDPOINT_URL", f"object storage at {where} failed: {exc}"
        ) from None
    return created
