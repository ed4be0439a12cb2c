"""PostgreSQL and Redis for the scale-out tests: the servers already running on this machine
where there are some, otherwise private instances started for the test session from Debian's
packages (the test set-up installs them). Never skipped."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import psycopg
import redis


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_udp_port() -> int:
    """A UDP port nobody uses (SRT runs over UDP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def _wait_for(check: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():  # type: ignore[operator]
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up in {timeout:.0f}s")


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yields an admin URL (``postgresql+psycopg://…/postgres``-like) of a reachable server."""
    if _answers("127.0.0.1", 5432):
        yield "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        return
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins:
        raise RuntimeError("PostgreSQL is not installed: run scripts/setup-test (make test does)")
    bindir = Path(bins[-1])
    root = Path(tempfile.mkdtemp(prefix="clinicast-pg-"))
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres")
    subprocess.run(
        [
            *as_postgres,
            str(bindir / "initdb"),
            "-D",
            str(root / "data"),
            "-U",
            "postgres",
            "--auth=trust",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*as_postgres, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w", "start",
         "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [
                *as_postgres,
                str(bindir / "pg_ctl"),
                "-D",
                str(root / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """A new empty database on the server, dropped afterwards."""
    name = f"clinicast_test_{uuid.uuid4().hex[:10]}"
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Yields a Redis URL on a database index no one else uses, emptied first."""
    if _answers("127.0.0.1", 6379):
        url = "redis://127.0.0.1:6379/13"
        redis.Redis.from_url(url).flushdb()
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("Redis is not installed: run scripts/setup-test (make test does)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        _wait_for(lambda: redis.Redis.from_url(url).ping(), "redis-server")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class S3Service:
    """An S3 service as an operator runs one: its own process, its own credentials."""

    endpoint_url: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def seaweedfs_s3_service(root: Path, *, access_key: str, secret_key: str) -> Iterator[S3Service]:
    """A SeaweedFS S3 service started here as a separate server (``weed server -s3``, not the
    portal's embedded supervisor), with one identity and no bucket: the test's deployment
    must create its bucket itself (``clinicast storage init`` or ``serve``)."""
    weed = Path(sysconfig.get_path("scripts")) / "weed"
    s3, master, volume, filer = (free_port() for _ in range(4))
    root.mkdir(parents=True, exist_ok=True)
    identities = root / "identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "operator", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))  # fmt: skip
    for folder in ("volumes", "master"):
        (root / folder).mkdir(exist_ok=True)
    log = (root / "weed.log").open("wb")
    process = subprocess.Popen(
        [str(weed), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={root / 'volumes'}",
         f"-master.dir={root / 'master'}", f"-master.port={master}", f"-volume.port={volume}",
         f"-master.port.grpc={free_port()}", f"-volume.port.grpc={free_port()}",
         f"-filer.port.grpc={free_port()}", f"-s3.port.grpc={free_port()}",
         "-master.telemetry=false", "-master.volumeSizeLimitMB=256", "-volume.max=0",
         "-volume.preStopSeconds=0", "-filer", f"-filer.port={filer}", "-s3", f"-s3.port={s3}", "-s3.autoCreateBucket=false",
         f"-s3.config={identities}", "-s3.port.iceberg=0", "-s3.port.lance=0"],
        cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    log.close()
    service = S3Service(f"http://127.0.0.1:{s3}", access_key, secret_key, process)
    try:
        _wait_for(lambda: _writable(service), "SeaweedFS S3", timeout=90)
        yield service
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _writable(service: S3Service) -> bool:
    """The S3 gateway answers and its volume server takes writes (a scratch bucket)."""
    client = boto3.session.Session().client(
        "s3", endpoint_url=service.endpoint_url, aws_access_key_id=service.access_key,
        aws_secret_access_key=service.secret_key, region_name="us-east-1",
    )  # fmt: skip
    client.create_bucket(Bucket="readiness")
    client.put_object(Bucket="readiness", Key="probe", Body=b"ok")
    return client.get_object(Bucket="readiness", Key="probe")["Body"].read() == b"ok"


@contextlib.contextmanager
def rabbitmq_server() -> Iterator[str]:
    """Yields an AMQP URL: a fresh virtual host on the RabbitMQ running here (removed
    afterwards), or a private node started for the test session from Debian's package."""
    if _answers("127.0.0.1", 5672):
        vhost = f"clinicast-test-{uuid.uuid4().hex[:8]}"
        ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
        made = subprocess.run([ctl, "add_vhost", vhost], capture_output=True, check=False)
        if made.returncode != 0:  # not allowed to manage it: share the default virtual host
            yield "amqp://guest:guest@127.0.0.1:5672//"
            return
        subprocess.run([ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                       capture_output=True, check=True)  # fmt: skip
        try:
            yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
        finally:
            subprocess.run([ctl, "delete_vhost", vhost], capture_output=True, check=False)
        return
    with _private_rabbitmq() as url:
        yield url


@contextlib.contextmanager
def _private_rabbitmq() -> Iterator[str]:
    server = shutil.which("rabbitmq-server") or "/usr/sbin/rabbitmq-server"
    if not Path(server).exists():
        raise RuntimeError("RabbitMQ is not installed: run scripts/setup.sh test (make test does)")
    root = Path(tempfile.mkdtemp(prefix="clinicast-rabbitmq-"))
    port = free_port()
    (root / "enabled_plugins").write_text("[].\n")
    # Our own configuration files: a machine's /etc/rabbitmq may pin the listener to 5672.
    (root / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{port}\n")
    (root / "rabbitmq-env.conf").write_text("")
    env = {
        **os.environ,
        "RABBITMQ_NODENAME": f"clinicast{port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
        "RABBITMQ_LOG_BASE": str(root / "log"),
        "RABBITMQ_PID_FILE": str(root / "pid"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq.conf"),
        "RABBITMQ_CONF_ENV_FILE": str(root / "rabbitmq-env.conf"),
    }
    if os.geteuid() == 0 and shutil.which("runuser"):
        shutil.chown(root, "rabbitmq")  # Debian's script runs the node as the rabbitmq user
        for child in root.iterdir():
            shutil.chown(child, "rabbitmq")
    process = subprocess.Popen([server], env=env, cwd=root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"amqp://guest:guest@127.0.0.1:{port}//"
    try:
        _wait_for(lambda: _answers("127.0.0.1", port), "rabbitmq-server", timeout=90)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
