"""Settings from the environment and a TOML file; migrations on SQLite and PostgreSQL match
the models."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from infra.db import current_revision, make_engine, upgrade
from infra.models import include_name, metadata
from infra.settings import Settings
from tests.conftest import settings_from
from tests.support.services import fresh_postgres_database


def test_defaults_are_the_embedded_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from({"CLINICAST_DATA_DIR": str(tmp_path)}, monkeypatch)
    assert settings.database_url == f"sqlite:///{tmp_path}/clinicast.sqlite"
    assert settings.broker_url == f"sqla+sqlite:///{tmp_path}/broker.sqlite"
    assert settings.embedded_storage
    assert settings.storage_endpoint == "http://127.0.0.1:8333"
    assert settings.speech.model == "base"


def test_environment_beats_the_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "clinicast.toml"
    toml.write_text(
        '[database]\nurl = "postgresql+psycopg://file@db/x"\n[web]\nport = 9000\n[jobs]\nconcurrency = 3\n'
    )
    settings = settings_from(
        {
            "CLINICAST_SETTINGS_FILE": str(toml),
            "CLINICAST_WEB__PORT": "9100",
            "CLINICAST_DATA_DIR": str(tmp_path),
        },
        monkeypatch,
    )
    assert settings.database_url == "postgresql+psycopg://file@db/x"
    assert settings.web.port == 9100
    assert settings.jobs.concurrency == 3


def test_generated_secrets_persist_in_the_data_dir(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path)
    assert first.secret_key() == Settings(data_dir=tmp_path).secret_key()
    assert first.storage_credentials() == Settings(data_dir=tmp_path).storage_credentials()
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_masked_settings_hide_every_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(
        {
            "CLINICAST_DATA_DIR": str(tmp_path),
            "CLINICAST_DATABASE__URL": "postgresql+psycopg://app:db-pass-123@db/clinicast",
            "CLINICAST_JOBS__BROKER_URL": "amqp://guest:broker-pass-456@mq:5672//",
            "CLINICAST_STORAGE__SECRET_KEY": "s3-pass-789",
            "CLINICAST_WEB__SECRET_KEY": "web-pass-000-long-enough-to-be-a-key",
        },
        monkeypatch,
    )
    shown = json.dumps(settings.masked())
    for secret in (
        "db-pass-123",
        "broker-pass-456",
        "s3-pass-789",
        "web-pass-000-long-enough-to-be-a-key",
    ):
        assert secret not in shown
    assert "postgresql+psycopg://app:***@db/clinicast" in shown


def test_migrations_reach_head_idempotently_and_match_the_models(engine: Engine) -> None:
    upgrade(engine)  # the fixture already upgraded once: a second run changes nothing
    assert current_revision(engine) is not None
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        differences = compare_metadata(context, metadata)
    assert differences == []
    assert {"clinic", "app_user", "lecture", "lecture_audience", "job", "worker_presence"} <= set(
        inspect(engine).get_table_names()
    )


def test_portals_starting_at_once_migrate_one_after_the_other(postgres_admin_url: str) -> None:
    """Every `clinicast serve` migrates at start unless --no-migrate: on a fresh PostgreSQL
    database, concurrent upgrades must not race to create the same tables."""
    with fresh_postgres_database(postgres_admin_url) as url:
        engines = [make_engine(url) for _ in range(3)]
        try:
            with ThreadPoolExecutor(len(engines)) as pool:
                list(pool.map(upgrade, engines))  # re-raises the first failure
            assert current_revision(engines[0]) is not None
        finally:
            for engine in engines:
                engine.dispose()
