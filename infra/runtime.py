"""Opening the database the settings name (entry points only)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from infra.db import make_engine, make_session_factory
from infra.settings import Settings


@dataclass
class Database:
    engine: Engine
    sessions: Callable[[], Session]


def open_database(
    settings: Settings, after_commit: Callable[[Session], None] | None = None
) -> Database:
    engine = make_engine(
        settings.database_url, echo=settings.database.echo, pool_size=settings.database.pool_size
    )
    return Database(engine, make_session_factory(engine, after_commit))
