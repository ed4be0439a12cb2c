"""A real portal for end-to-end and browser tests: `clinicast serve` in its own process with a
fresh data directory, its embedded S3 server and a worker, stopped with SIGINT afterwards."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from tests.conftest import REPO, free_s3_port, settings_env, wait_until
from tests.support.services import free_port


@dataclass
class LivePortal:
    data_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    web_port: int = field(default_factory=free_port)
    s3_port: int = field(default_factory=free_s3_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def env(self) -> dict[str, str]:
        return settings_env(
            {
                "CLINICAST_DATA_DIR": str(self.data_dir),
                "CLINICAST_WEB__PORT": str(self.web_port),
                "CLINICAST_STORAGE__EMBEDDED_PORT": str(self.s3_port),
                "CLINICAST_JOBS__SWEEP_SECONDS": "1",
                **self.extra_env,
            }
        )

    def clinicast(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another `clinicast` command against the same settings."""
        return subprocess.run(
            [sys.executable, "-m", "infra.cli", *args], env=self.env, cwd=REPO,
            capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def __enter__(self) -> LivePortal:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "serve.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "serve"], env=self.env, cwd=REPO,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        try:
            wait_until(self.ready, 120, "the portal's /readyz to answer 200")
        except AssertionError:
            self.__exit__(None, None, None)
            raise AssertionError(
                (self.data_dir / "serve.log").read_text(errors="replace")[-3000:]
            ) from None
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
