"""The embedded SeaweedFS gives access to objects through its S3 port and credentials only:
raw HTTP to its master, volume and filer ports (anyone on the machine can reach loopback)
neither reads, lists, writes nor deletes an object."""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import subprocess
import tomllib
from pathlib import Path

import httpx
import pytest

from infra.storage.s3 import S3BlobStore
from infra.storage.seaweed import EmbeddedSeaweedFS, weed_binary
from infra.storage.seaweed_security import write_security_config

SECRET = b"a recording nobody outside the portal may read"
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


@pytest.fixture
def stored(s3_store: S3BlobStore) -> str:
    key = "lectures/9001/source/1/source.mp4"
    s3_store.put_bytes(key, SECRET, content_type="video/mp4")
    return key


def _weed_shell(embedded_s3: EmbeddedSeaweedFS, command: str, cwd: Path, timeout: float) -> str:
    """SeaweedFS's own shell (gRPC to the master and the filer), run in ``cwd``: in the data
    directory it has the server's ``security.toml``, anywhere else it has not."""
    _, master, _, filer = embedded_s3.ports[:4]
    try:
        shell = subprocess.run(
            [str(weed_binary()), "shell", f"-master=127.0.0.1:{master}", f"-filer=127.0.0.1:{filer}"],
            input=f"{command}\n".encode(), capture_output=True, timeout=timeout, check=False, cwd=cwd,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return ""  # it never got through
    return shell.stdout.decode()


def _fid_of(embedded_s3: EmbeddedSeaweedFS, key: str) -> str:
    """The volume file id of the object's first chunk (asked as the server itself)."""
    out = _weed_shell(
        embedded_s3, f"fs.meta.cat /buckets/{embedded_s3.bucket}/{key}", embedded_s3.data_dir, 60
    )
    found = re.search(r'"fileId":\s*"([0-9]+,[0-9a-f]+)"', out)
    assert found, out[-2000:]
    return found.group(1)


def _refused(response: httpx.Response) -> bool:
    return response.status_code in (401, 403, 404, 405) and SECRET not in response.content


def test_filer_http_neither_reads_lists_writes_nor_deletes(
    embedded_s3: EmbeddedSeaweedFS, s3_store: S3BlobStore, stored: str
) -> None:
    filer = f"http://127.0.0.1:{embedded_s3.ports[3]}/buckets/{embedded_s3.bucket}/"
    folder = stored.rsplit("/", 1)[0] + "/"
    with httpx.Client(timeout=10) as http:
        attempts = [
            http.get(filer + stored),
            http.get(filer + folder, headers={"Accept": "application/json"}),
            http.get(filer, headers={"Accept": "application/json"}),
            http.put(filer + stored, content=b"overwritten"),
            http.post(filer + folder, files={"file": ("planted.mp4", b"planted")}),
            http.delete(filer + stored),
            http.delete(filer + folder, params={"recursive": "true"}),
        ]
    for response in attempts:
        assert _refused(response), (response.request.method, response.request.url, response.text)
    assert s3_store.get_bytes(stored) == SECRET  # unchanged, its checksum verified
    assert [obj.key for obj in s3_store.list(folder)] == [stored]


def test_master_http_neither_assigns_submits_nor_drops_the_bucket(
    embedded_s3: EmbeddedSeaweedFS, s3_store: S3BlobStore, stored: str
) -> None:
    master = f"http://127.0.0.1:{embedded_s3.ports[1]}"
    fid = _fid_of(embedded_s3, stored)
    with httpx.Client(timeout=10, follow_redirects=True) as http:
        attempts = [
            http.get(f"{master}/{fid}"),
            http.get(f"{master}/dir/assign"),
            http.post(f"{master}/submit", files={"file": ("planted", b"planted")}),
            http.get(f"{master}/col/delete", params={"collection": embedded_s3.bucket}),
            http.get(f"{master}/vol/grow", params={"collection": embedded_s3.bucket}),
        ]
    for response in attempts:
        assert _refused(response), (response.request.method, response.request.url, response.text)
    assert s3_store.get_bytes(stored) == SECRET


def test_volume_http_neither_reads_writes_nor_deletes_a_stored_chunk(
    embedded_s3: EmbeddedSeaweedFS, s3_store: S3BlobStore, stored: str
) -> None:
    volume = f"http://127.0.0.1:{embedded_s3.ports[2]}"
    fid = _fid_of(embedded_s3, stored)
    with httpx.Client(timeout=10) as http:
        attempts = [
            http.get(f"{volume}/{fid}"),
            http.post(f"{volume}/{fid}", files={"file": ("chunk", b"overwritten")}),
            http.put(f"{volume}/{fid}", content=b"overwritten"),
            http.delete(f"{volume}/{fid}"),
        ]
    for response in attempts:
        assert _refused(response), (response.request.method, response.request.url, response.text)
    assert s3_store.get_bytes(stored) == SECRET


def _secrets(data_dir: Path) -> tuple[list[str], bytes]:
    """The JWT signing keys of ``security.toml`` and the TLS private key."""
    config = tomllib.loads((data_dir / "security.toml").read_text())
    jwt = config["jwt"]
    keys = [jwt["signing"]["key"], jwt["signing"]["read"]["key"]]
    keys += [jwt["filer_signing"]["key"], jwt["filer_signing"]["read"]["key"]]
    assert config["grpc"]["filer"]["key"] == str(data_dir / "tls" / "key.pem")
    return keys, (data_dir / "tls" / "key.pem").read_bytes()


def test_keys_are_random_private_and_survive_a_restart(embedded_s3: EmbeddedSeaweedFS) -> None:
    data_dir = embedded_s3.data_dir
    keys, tls_key = _secrets(data_dir)
    assert len(set(keys)) == 4
    assert all(len(key) >= 32 for key in keys)
    for private in (data_dir / "security.toml", data_dir / "tls" / "key.pem"):
        assert private.stat().st_mode & 0o077 == 0
    write_security_config(data_dir)  # what a restart does
    assert _secrets(data_dir) == (keys, tls_key)


def _speaks_grpc_to(port: int, context: ssl.SSLContext | None) -> bool:
    """True if an HTTP/2 (gRPC) client gets the server's SETTINGS frame: in clear text, or
    over TLS with ``context`` (which presents no client certificate)."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw) if context else contextlib.nullcontext(raw) as sock,
        ):
            sock.sendall(HTTP2_PREFACE)
            frame = sock.recv(9)
            if context is not None:  # TLS 1.3: a refused certificate shows at the first read
                frame += sock.recv(1)
    except (OSError, ssl.SSLError):
        return False
    return len(frame) >= 9 and frame[3] == 4  # a SETTINGS frame


def test_grpc_ports_refuse_clients_without_the_servers_certificate(
    embedded_s3: EmbeddedSeaweedFS, stored: str, tmp_path: Path
) -> None:
    for port in embedded_s3.ports[4:]:
        assert not _speaks_grpc_to(port, None), port
    with_ca = ssl.create_default_context(cafile=embedded_s3.data_dir / "tls" / "ca.pem")
    with_ca.check_hostname = False
    with_ca.set_alpn_protocols(["h2"])
    for port in embedded_s3.ports[4:]:
        assert not _speaks_grpc_to(port, with_ca), port
    folder = f"/buckets/{embedded_s3.bucket}/{stored.rsplit('/', 1)[0]}/"
    assert "source.mp4" in _weed_shell(embedded_s3, f"fs.ls {folder}", embedded_s3.data_dir, 60)
    assert "source.mp4" not in _weed_shell(embedded_s3, f"fs.ls {folder}", tmp_path, 15)
