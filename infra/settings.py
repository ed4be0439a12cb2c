"""Settings, read once by an entry point (app factory, worker, CLI) and passed down as values.

Every setting comes from the environment (``CLINICAST_`` prefix, ``__`` between a section and
its field: ``CLINICAST_DATABASE__URL``) or from a TOML file named by ``CLINICAST_SETTINGS_FILE``
(sections ``[database]``, ``[storage]``…); the environment wins. The defaults give the embedded
mode: SQLite, SeaweedFS started by the app, the Celery broker in a SQLite file, all under
``data_dir``.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
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
    retention_days: float = Field(
        7,
        description="the cleanup job deletes what no lecture uses any more (older uploads and "
        "captions, failed transcode attempts, abandoned multipart uploads, dead workers' "
        "scratch directories) once it is this old",
    )


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
    cleanup_seconds: float = Field(
        21600, description="how often the storage cleanup job runs (and once at worker start)"
    )
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
    encode_speed_mpixels: float = Field(
        30,
        description="megapixels a second one ladder ffmpeg gets through on a worker (measured "
        "54-69 on a busy 2-core box at veryfast); a transcode's one time limit is its planned "
        "ladder's pixels at this speed, doubled, at least an hour",
        gt=0,
    )


MIN_SECRET_KEY_BYTES = 32


class WebSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str | None = None
    secret_key: SecretStr | None = Field(
        None, description="at least 32 bytes; unset: generated once in data_dir"
    )
    default_locale: Literal["zh-CN", "en"] = "zh-CN"
    timezone: str = "Asia/Shanghai"
    max_upload_mb: int = 4096
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks of reverse proxies whose X-Forwarded-For is believed",
    )
    metrics_token: SecretStr | None = Field(
        None, description="set: /metrics, /metrics/http and /readyz detail need this bearer token"
    )
    public_schema: bool = Field(True, description="false: /schema only for signed-in users")
    access_log: bool = Field(
        False,
        description="log every request (a reverse proxy usually does; off, the portal answers "
        "heartbeats and segments faster)",
    )

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty or short key (an unset variable in a compose file) would be a known key:
        # anyone could sign themselves a session.
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_KEY_BYTES:
            raise ValueError(f"at least {MIN_SECRET_KEY_BYTES} bytes; unset it to generate one")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an address or a network") from None
        return value


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

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS: when users reach the portal by an https:// address."""
        return self.public_base_url.startswith("https://")

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
    """The secret kept in ``path``, generated by whichever process asks first. The file appears
    complete or not at all (written aside, then hard-linked into place, which fails if it
    exists), so processes starting together never read it empty and all end with one value."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(nbytes))
                handle.flush()
                os.fsync(handle.fileno())
            os.link(scratch, path)
        except FileExistsError:
            pass  # another process was first: use its value
        finally:
            os.unlink(scratch)
    value = path.read_text().strip()
    if len(value) < nbytes:
        raise ConfigurationError("CLINICAST_DATA_DIR", f"{path} is damaged: delete it")
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
