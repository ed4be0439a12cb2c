"""The SQL statements of heartbeat ingestion, built once per dialect (building one, its
``excluded`` columns above all, costs more than running it), and the lock that queues
SQLite's writers in this process."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Sequence

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite

from training.attendance.models import Heartbeat, ViewingSession
from training.errors import ConfigurationError

HEARTBEATS: Table = Heartbeat.__table__  # type: ignore[attr-defined]
SESSIONS: Table = ViewingSession.__table__  # type: ignore[attr-defined]
_SQLITE_WRITER = threading.Lock()


@contextlib.contextmanager
def writing(dialect: str) -> Iterator[None]:
    """Around a write transaction. On SQLite, writers queue on a lock of this process and
    wake as soon as it is free: waiting on SQLite's own lock instead sleeps 1, 2, 5 … up to
    100 ms between tries, which made the slowest heartbeat requests wait for nothing. (The
    worker process still writes beside the portal: its busy timeout handles that.)"""
    if dialect != "sqlite":
        yield
        return
    with _SQLITE_WRITER:
        yield


def _insert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    # Clinicast runs on SQLite (embedded) and PostgreSQL (scale-out), nothing else.
    raise ConfigurationError(
        "CLINICAST_DATABASE__URL", f"{dialect} is not supported: use SQLite or PostgreSQL"
    )


def _insert_ignoring(dialect: str, table: Table, *columns: str) -> Insert:
    """``INSERT … ON CONFLICT (columns) DO NOTHING`` in the database's dialect."""
    return _insert(dialect, table).on_conflict_do_nothing(index_elements=list(columns))


def _upsert(dialect: str, table: Table, columns: Sequence[str], touched: str) -> Insert:
    """``INSERT … ON CONFLICT (columns) DO UPDATE SET touched = excluded.touched``: with a
    conflict column as ``touched`` the row keeps its values, and is locked and returned."""
    statement = _insert(dialect, table)
    return statement.on_conflict_do_update(
        index_elements=list(columns), set_={touched: statement.excluded[touched]}
    )


@functools.cache
def statements(dialect: str) -> tuple[Insert, Insert]:
    """(the sessions' upsert, the heartbeats' append), built once per dialect: building one
    (``excluded`` above all) costs more than running it."""
    sessions = _upsert(dialect, SESSIONS, ("user_id", "session_id"), "session_id")
    heartbeats = _insert_ignoring(dialect, HEARTBEATS, "user_id", "session_id", "seq")
    return (
        sessions.returning(*SESSIONS.c),
        heartbeats.returning(HEARTBEATS.c.session_id, HEARTBEATS.c.seq),
    )
