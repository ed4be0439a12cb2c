"""The database engine, sessions, and migrations (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from training.errors import ConfigurationError

MIGRATIONS = Path(__file__).with_name("migrations")
DATABASE_SETTING = "CLINICAST_DATABASE__URL"


def make_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> Engine:
    """An engine for ``url``. SQLite gets WAL (readers never wait for the writer), foreign
    keys, and a busy timeout so the portal, the worker and the sweep can share the file."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, echo=echo, pool_size=pool_size, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_session_factory(
    engine: Engine, after_commit: Callable[[Session], None] | None = None
) -> Callable[[], Session]:
    """Sessions bound to ``engine``. ``after_commit`` runs after every commit (the job engine
    uses it to announce jobs enqueued in that transaction, never before they are visible)."""
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    if after_commit is not None:
        event.listen(factory, "after_commit", after_commit)
    return factory


def check_database(engine: Engine) -> None:
    """Raise ConfigurationError naming the setting if the database cannot be reached."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        shown = engine.url.render_as_string(hide_password=True)
        raise ConfigurationError(
            DATABASE_SETTING, f"cannot connect to the database {shown}: {reason}"
        ) from None


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


MIGRATION_LOCK = 0x636C696E6963  # "clinic": PostgreSQL advisory lock key of migrations


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (idempotent). On PostgreSQL the migration holds an
    advisory lock for its transaction, so portals starting at once (each runs this unless
    ``--no-migrate``) migrate one after the other, and the later ones find nothing to do."""
    check_database(engine)
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
