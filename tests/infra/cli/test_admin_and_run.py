"""The `clinicast` command as an operator meets it: real processes, one clear line for every
configuration mistake, never a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.storage.s3_client import make_s3_client
from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.conftest import REPO, S3_ACCESS_KEY, S3_SECRET_KEY, settings_env


def clinicast(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args], env=settings_env(env), cwd=REPO,
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def assert_one_clear_line(result: subprocess.CompletedProcess[str], setting: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert setting in lines[0]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CLINICAST_DATA_DIR": str(tmp_path / "data")}


def test_config_prints_effective_settings_as_json(env: dict[str, str]) -> None:
    result = clinicast(
        "config", env={**env, "CLINICAST_DATABASE__URL": "postgresql+psycopg://u:hunter22@db/x"}
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["effective"]["database_url"] == "postgresql+psycopg://u:***@db/x"
    assert "hunter22" not in result.stdout


def test_seed_then_create_a_user_for_a_clinic(env: dict[str, str]) -> None:
    seeded = clinicast("seed", env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert "clinics created: 308" in seeded.stdout
    assert "village-doctor" in seeded.stdout
    created = clinicast(
        "users", "create", "dr.li", "--role", "doctor", "--clinic", "139901002003", env=env
    )
    assert created.returncode == 0, created.stderr
    assert "created doctor dr.li with password" in created.stdout
    again = clinicast(
        "users", "create", "dr.li", "--role", "doctor", "--clinic", "139901002003", env=env
    )
    assert again.returncode == 2
    assert "taken" in again.stderr
    unknown = clinicast("users", "create", "dr.x", "--role", "doctor", "--clinic", "000", env=env)
    assert unknown.returncode == 2
    assert "no clinic with region code 000" in unknown.stderr


def test_unreachable_database_is_one_line_naming_the_setting(env: dict[str, str]) -> None:
    result = clinicast(
        "db",
        "upgrade",
        env={**env, "CLINICAST_DATABASE__URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"},
    )
    assert_one_clear_line(result, "CLINICAST_DATABASE__URL")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_portal_port_in_use_is_one_line_naming_the_setting(
    env: dict[str, str], busy_port: int
) -> None:
    result = clinicast("serve", "--no-worker", env={**env, "CLINICAST_WEB__PORT": str(busy_port)})
    assert_one_clear_line(result, "CLINICAST_WEB__PORT")


def test_wrong_s3_credentials_stop_start_up_with_one_line(
    env: dict[str, str], embedded_s3: EmbeddedSeaweedFS
) -> None:
    result = clinicast(
        "serve", "--no-worker",
        env={
            **env,
            "CLINICAST_STORAGE__ENDPOINT_URL": embedded_s3.endpoint_url,
            "CLINICAST_STORAGE__BUCKET": embedded_s3.bucket,
            "CLINICAST_STORAGE__ACCESS_KEY": S3_ACCESS_KEY,
            "CLINICAST_STORAGE__SECRET_KEY": "wrong-secret",
            "CLINICAST_STORAGE__MAX_ATTEMPTS": "1",
        },
    )  # fmt: skip
    assert_one_clear_line(result, "CLINICAST_STORAGE__")
    assert "SECRET_KEY" in result.stderr


def test_worker_refuses_unknown_queues(env: dict[str, str]) -> None:
    clinicast("db", "upgrade", env=env)
    result = clinicast("worker", "-Q", "media,gpu-magic", env=env)
    assert_one_clear_line(result, "--queues")


def test_worker_on_an_unmigrated_database_says_to_run_db_upgrade(env: dict[str, str]) -> None:
    result = clinicast("worker", "-Q", "default", env=env)
    assert_one_clear_line(result, "CLINICAST_DATABASE__URL")
    assert "clinicast db upgrade" in result.stderr


def test_worker_with_an_unreachable_broker_stops_with_one_line(env: dict[str, str]) -> None:
    clinicast("db", "upgrade", env=env)
    result = clinicast(
        "worker",
        "-Q",
        "default",
        env={**env, "CLINICAST_JOBS__BROKER_URL": "redis://127.0.0.1:1/0"},
    )
    assert_one_clear_line(result, "CLINICAST_JOBS__BROKER_URL")


def test_worker_with_a_wrong_s3_secret_stops_with_one_line(
    env: dict[str, str], embedded_s3: EmbeddedSeaweedFS
) -> None:
    clinicast("db", "upgrade", env=env)
    result = clinicast(
        "worker", "-Q", "default",
        env={**env, **s3_env(embedded_s3, embedded_s3.bucket), "CLINICAST_STORAGE__SECRET_KEY": "wrong"},
    )  # fmt: skip
    assert_one_clear_line(result, "CLINICAST_STORAGE__SECRET_KEY")


def s3_env(s3: EmbeddedSeaweedFS, bucket: str) -> dict[str, str]:
    return {
        "CLINICAST_STORAGE__ENDPOINT_URL": s3.endpoint_url,
        "CLINICAST_STORAGE__BUCKET": bucket,
        "CLINICAST_STORAGE__ACCESS_KEY": S3_ACCESS_KEY,
        "CLINICAST_STORAGE__SECRET_KEY": S3_SECRET_KEY,
        "CLINICAST_STORAGE__MAX_ATTEMPTS": "1",
    }


def test_a_missing_bucket_is_one_line_until_storage_init_creates_it(
    env: dict[str, str], embedded_s3: EmbeddedSeaweedFS
) -> None:
    bucket = f"missing-{uuid.uuid4().hex[:8]}"
    settings = {
        **env,
        **s3_env(embedded_s3, bucket),
        "CLINICAST_WEB__PUBLIC_BASE_URL": "https://px.example",
    }
    missing = clinicast("storage", "check", env=settings)
    assert_one_clear_line(missing, "CLINICAST_STORAGE__BUCKET")
    assert "clinicast storage init" in missing.stderr
    created = clinicast("storage", "init", env=settings)
    assert created.returncode == 0, created.stderr
    assert f"bucket {bucket}: created" in created.stdout
    assert "CORS for https://px.example: set" in created.stdout
    assert "abort multipart uploads unfinished after 7 days: set" in created.stdout
    again = clinicast("storage", "init", env=settings)
    assert f"bucket {bucket}: exists" in again.stdout
    checked = clinicast("storage", "check", env=settings)
    assert checked.returncode == 0, checked.stderr
    client = make_s3_client(embedded_s3.endpoint_url, S3_ACCESS_KEY, S3_SECRET_KEY)
    rules = client.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert [rule["AllowedOrigins"] for rule in rules] == [["https://px.example"]]
