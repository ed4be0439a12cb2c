"""Settings, read once by an entry point (app factory, worker, CLI) and passed down as values.

Every setting comes from the environment (``CLINICAST_`` prefix, ``__`` between a section and
its field: ``CLINICAST_DATABASE__URL``) or from a TOML file named by ``CLINICAST_SETTINGS_FILE``
(sections ``[database]``, ``[storage]``…); the environment wins. The defaults give the embedded
mode: SQLite, SeaweedFS started by the app, the Celery broker in a SQLite file, all under
``data_dir``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url

from training.errors import ConfigurationError


class DatabaseSettings(BaseModel):
    url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in data_dir")
    echo: bool = False
    pool_size: int = 5


class StorageSettings(BaseModel):
    endpoint_url: str | None = Field(
        None, description="S3 endpoint; unset: run the embedded SeaweedFS under data_dir"
    )
    bucket: str = "clinicast"
    access_key: str | None = None
    secret_key: SecretStr | None = None
    region: str = "us-east-1"
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    embedded_port: int = Field(8333, description="S3 port of the embedded SeaweedFS")
    multipart_threshold_mb: int = 16
    multipart_chunk_mb: int = 8
    max_concurrency: int = 4
    connect_timeout: float = 5.0
    max_attempts: int = 5


class JobSettings(BaseModel):
    broker_url: str | None = Field(
        None, description="Celery broker; unset: sqla+sqlite in data_dir (no server)"
    )
    concurrency: int = Field(1, description="jobs one worker runs at once")
    lease_seconds: float = Field(60, description="no heartbeat for this long: the worker is dead")
    heartbeat_seconds: float = 5
    sweep_seconds: float = 15
    redispatch_after: float = Field(120, description="queued and unclaimed this long: send again")
    retry_backoff: float = Field(10, description="first wait before a failed job is retried")
    transient_retry_seconds: float = Field(
        1800,
        description="how long jobs failing for a transient reason (object storage unreachable, "
        "5xx, throttling) are retried, without using up their attempts",
    )
    transient_backoff_max: float = Field(120, description="longest wait between such retries")
    visibility_timeout: float = Field(3600, description="Redis/SQS redelivery of unacked messages")
    extra_modules: list[str] = Field(default_factory=list, description="more job-kind modules")


class SpeechSettings(BaseModel):
    model: str = Field("base", description="Whisper model name, or a directory of one")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = "auto"
    beam_size: int = 1
    cpu_threads: int = 0


class MediaSettings(BaseModel):
    ffmpeg_binary: str | None = Field(None, description="unset: the imageio-ffmpeg build")
    preset: str = "veryfast"
    max_height: int = 2160
    delivery: Literal["auto", "portal", "direct"] = Field(
        "auto",
        description="who serves segment bytes: the portal, or S3/a CDN directly through "
        "presigned URLs; auto: the portal for the embedded S3 server (it listens on loopback), "
        "direct for an external endpoint",
    )
    url_lifetime_seconds: int = Field(600, description="lifetime of signed media URLs")


class WebSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str | None = None
    secret_key: SecretStr | None = Field(None, description="unset: generated once in data_dir")
    default_locale: Literal["zh-CN", "en"] = "zh-CN"
    timezone: str = "Asia/Shanghai"
    max_upload_mb: int = 4096


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CLINICAST_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Path("data")
    database: DatabaseSettings = DatabaseSettings()
    storage: StorageSettings = StorageSettings()
    jobs: JobSettings = JobSettings()
    speech: SpeechSettings = SpeechSettings()
    media: MediaSettings = MediaSettings()
    web: WebSettings = WebSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        settings_file = os.environ.get("CLINICAST_SETTINGS_FILE")
        if settings_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(settings_file)))
        return tuple(sources)

    # --- effective values -----------------------------------------------------------------

    @property
    def data_path(self) -> Path:
        return self.data_dir.resolve()

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_path / 'clinicast.sqlite'}"

    @property
    def broker_url(self) -> str:
        return self.jobs.broker_url or f"sqla+sqlite:///{self.data_path / 'broker.sqlite'}"

    @property
    def embedded_storage(self) -> bool:
        return self.storage.endpoint_url is None

    @property
    def storage_endpoint(self) -> str:
        return self.storage.endpoint_url or f"http://127.0.0.1:{self.storage.embedded_port}"

    @property
    def direct_media_delivery(self) -> bool:
        """True when browsers fetch segments from S3 themselves (presigned URLs)."""
        if self.media.delivery == "auto":
            return not self.embedded_storage
        return self.media.delivery == "direct"

    @property
    def public_base_url(self) -> str:
        return self.web.public_base_url or f"http://{self.web.host}:{self.web.port}"

    def secret_key(self) -> str:
        """The signing key: the setting, or one generated once and kept in data_dir."""
        if self.web.secret_key is not None:
            return self.web.secret_key.get_secret_value()
        return _persisted_secret(self.data_path / "secret_key", 32)

    def storage_credentials(self) -> tuple[str, str]:
        """(access key, secret key): the settings, or in the embedded mode a pair generated
        once and kept in data_dir (SeaweedFS is configured with the same pair)."""
        if self.storage.access_key and self.storage.secret_key:
            return self.storage.access_key, self.storage.secret_key.get_secret_value()
        if not self.embedded_storage:
            raise ConfigurationError(
                "CLINICAST_STORAGE__ACCESS_KEY",
                "an external S3 endpoint needs an access key and a secret key",
            )
        return "clinicast", _persisted_secret(self.data_path / "s3_secret", 24)

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets masked (``clinicast config``)."""
        data = self.model_dump(mode="json")
        data["effective"] = {
            "database_url": mask_url(self.database_url),
            "broker_url": mask_url(self.broker_url),
            "storage_endpoint": self.storage_endpoint,
            "embedded_storage": self.embedded_storage,
            "public_base_url": self.public_base_url,
        }
        data["database"]["url"] = mask_url(self.database.url) if self.database.url else None
        data["jobs"]["broker_url"] = (
            mask_url(self.jobs.broker_url) if self.jobs.broker_url else None
        )
        return data


def _persisted_secret(path: Path, nbytes: int) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def mask_url(url: str) -> str:
    """Hide the password of a URL such as postgresql://user:secret@host/db."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a SQLAlchemy URL (a broker URL): mask by hand
        scheme, sep, rest = url.partition("://")
        if "@" in rest and ":" in rest.split("@", 1)[0]:
            user = rest.split("@", 1)[0].split(":", 1)[0]
            return f"{scheme}{sep}{user}:***@{rest.split('@', 1)[1]}"
        return url


def load_settings(**overrides: Any) -> Settings:
    """Read the settings once (entry points only)."""
    return Settings(**overrides)
