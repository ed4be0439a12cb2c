"""The recording pipeline's tests run on a seeded county in a SQLite file of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from infra.db import make_engine, make_session_factory, upgrade
from infra.seed import seed


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[Callable[[], Session]]:
    """Sessions on a seeded county (its demo lectures, users and clinics)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'pipeline.sqlite'}")
    upgrade(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        seed(session)
    yield factory
    engine.dispose()
