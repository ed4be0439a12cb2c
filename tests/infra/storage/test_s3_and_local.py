"""Object storage on a real SeaweedFS (the embedded server) and on a local directory: one
contract, two implementations; multipart in bounded memory; errors mapped to ours; objects
that survive a restart; a server that is restarted when it dies."""

from __future__ import annotations

import hashlib
import os
import signal
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from infra.storage.local import LocalBlobStore
from infra.storage.s3 import S3BlobStore
from infra.storage.s3_client import make_s3_client, storage_errors
from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY, free_s3_port, wait_until
from training.errors import (
    BucketMissing,
    ConfigurationError,
    IntegrityError,
    StorageAuthError,
    StorageUnavailable,
    UploadNotFound,
)
from training.ports import BlobStore

MIB = 1024 * 1024


@pytest.fixture(params=["s3", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
        return
    s3: S3BlobStore = request.getfixturevalue("s3_store")
    prefix = f"t-{os.urandom(4).hex()}/"
    yield PrefixedStore(s3, prefix)  # type: ignore[misc]
    s3.delete_prefix(prefix)


class PrefixedStore:
    """Keeps each test's keys apart in the shared bucket (delegates everything else)."""

    def __init__(self, inner: S3BlobStore, prefix: str) -> None:
        self.inner, self.prefix = inner, prefix

    def __getattr__(self, name: str) -> object:
        method = getattr(self.inner, name)
        if name in {"check"}:
            return method

        def call(key: str, *args: object, **kwargs: object) -> object:
            if name == "copy":
                return method(self.prefix + key, self.prefix + str(args[0]))
            result = method(self.prefix + key, *args, **kwargs)
            if name == "list":
                return [
                    obj.__class__(
                        obj.key.removeprefix(self.prefix), obj.size, obj.sha256, obj.content_type
                    )
                    for obj in result
                ]
            return result

        return call


def test_put_and_get_bytes_round_trip_with_checksum(store: BlobStore) -> None:
    stored = store.put_bytes(
        "lectures/1/notes.txt", "降压药 dosage".encode(), content_type="text/plain"
    )
    assert stored.sha256 == hashlib.sha256("降压药 dosage".encode()).hexdigest()
    assert store.get_bytes("lectures/1/notes.txt") == "降压药 dosage".encode()
    assert store.stat("lectures/1/notes.txt").size == len("降压药 dosage".encode())


def test_put_file_then_get_file_gives_the_same_bytes(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(3 * MIB + 17))
    stored = store.put_file("lectures/2/source.bin", source, content_type="video/mp4")
    assert stored.size == source.stat().st_size
    target = tmp_path / "out" / "copy.bin"
    store.get_file("lectures/2/source.bin", target)
    assert target.read_bytes() == source.read_bytes()
    assert not list(target.parent.glob("*.part"))


def test_missing_object_raises_file_not_found(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        store.get_bytes("lectures/404/nothing")
    with pytest.raises(FileNotFoundError):
        store.get_file("lectures/404/nothing", tmp_path / "x")
    assert not store.exists("lectures/404/nothing")


def test_list_copy_and_delete_prefix(store: BlobStore) -> None:
    for name in ("a", "b", "c"):
        store.put_bytes(f"lectures/3/attempts/1/{name}.ts", name.encode())
    store.copy("lectures/3/attempts/1/a.ts", "lectures/3/hls/a.ts")
    assert store.get_bytes("lectures/3/hls/a.ts") == b"a"
    assert sorted(obj.key for obj in store.list("lectures/3/attempts/")) == [
        f"lectures/3/attempts/1/{n}.ts" for n in "abc"
    ]
    assert store.delete_prefix("lectures/3/attempts/") == 3
    assert list(store.list("lectures/3/attempts/")) == []
    assert store.exists("lectures/3/hls/a.ts")


def test_s3_get_detects_an_object_whose_bytes_do_not_match_its_checksum(
    s3_store: S3BlobStore, tmp_path: Path
) -> None:
    # Written behind our back with a wrong checksum, as a corrupted replica would look.
    s3_store.client.put_object(
        Bucket=s3_store.bucket, Key="corrupt/x", Body=b"tampered", Metadata={"sha256": "0" * 64}
    )
    with pytest.raises(IntegrityError):
        s3_store.get_bytes("corrupt/x")
    with pytest.raises(IntegrityError):
        s3_store.get_file("corrupt/x", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_multipart_upload_of_100_mb_keeps_memory_bounded(
    s3_store: S3BlobStore, tmp_path: Path
) -> None:
    source = tmp_path / "lecture-100mb.bin"
    with source.open("wb") as handle:
        for _ in range(100):
            handle.write(os.urandom(MIB))
    tracemalloc.start()
    try:
        s3_store.put_file("big/lecture.bin", source)
        _, peak_upload = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        s3_store.get_file("big/lecture.bin", tmp_path / "back.bin")
        _, peak_download = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 8 MiB parts, 4 threads: well under the file's 100 MiB whatever its size.
    assert peak_upload < 48 * MIB, f"upload peaked at {peak_upload / MIB:.0f} MiB"
    assert peak_download < 48 * MIB, f"download peaked at {peak_download / MIB:.0f} MiB"
    assert (
        hashlib.sha256((tmp_path / "back.bin").read_bytes()).digest()
        == hashlib.sha256(source.read_bytes()).digest()
    )
    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key="big/lecture.bin")
    assert head["ETag"].strip('"').endswith("-13")  # 100 MiB in 8 MiB parts: a multipart upload
    s3_store.delete("big/lecture.bin")


def test_wrong_credentials_are_a_clear_auth_error(embedded_s3: EmbeddedSeaweedFS) -> None:
    client = make_s3_client(
        embedded_s3.endpoint_url, S3_ACCESS_KEY, "not-the-secret", max_attempts=1
    )
    with pytest.raises(StorageAuthError, match="CLINICAST_STORAGE__SECRET_KEY"):
        S3BlobStore(client, embedded_s3.bucket).check()


def test_unreachable_endpoint_is_storage_unavailable() -> None:
    client = make_s3_client("http://127.0.0.1:9", "a", "b", max_attempts=1, connect_timeout=1)
    with pytest.raises(StorageUnavailable, match="CLINICAST_STORAGE__ENDPOINT_URL"):
        S3BlobStore(client, "clinicast").check()


def test_presigned_url_fetches_the_object_and_a_forged_one_does_not(s3_store: S3BlobStore) -> None:
    s3_store.put_bytes("signed/seg.ts", b"segment-bytes")
    url = s3_store.url_for("signed/seg.ts", expires_in=60)
    assert url is not None
    assert httpx.get(url).content == b"segment-bytes"
    forged = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert httpx.get(forged).status_code == 403


@pytest.mark.slow
def test_embedded_server_keeps_objects_across_a_restart_and_is_restarted_when_killed(
    tmp_path: Path,
) -> None:
    server = EmbeddedSeaweedFS(
        tmp_path / "seaweedfs",
        s3_port=free_s3_port(),
        access_key=S3_ACCESS_KEY,
        secret_key=S3_SECRET_KEY,
        bucket="restart-test",
    )
    server.start()
    try:
        server.store().put_bytes("lectures/9/source.mp4", b"recording")
        server.stop()
        assert not server.running()
        server.start()
        assert server.store().get_bytes("lectures/9/source.mp4") == b"recording"

        process = server.supervisor.process
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)  # the server dies under the app
        wait_until(lambda: server.restarts == 1, 90, "the supervisor to restart the server")
        assert server.store().get_bytes("lectures/9/source.mp4") == b"recording"
    finally:
        server.stop()
    assert server.supervisor.process is not None
    assert server.supervisor.process.poll() is not None  # stopped for good, not restarted


def test_embedded_server_refuses_to_start_on_a_port_in_use(
    tmp_path: Path, embedded_s3: EmbeddedSeaweedFS
) -> None:
    server = EmbeddedSeaweedFS(
        tmp_path,
        s3_port=embedded_s3.s3_port,
        access_key="a",
        secret_key="b" * 20,
        bucket="x-bucket",
    )
    with pytest.raises(ConfigurationError, match="CLINICAST_STORAGE__EMBEDDED_PORT"):
        server.start()


def test_local_store_rejects_keys_that_escape_its_root(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    from training.errors import ValidationError

    for key in ("../etc/passwd", "/abs/path", "a/../../b"):
        with pytest.raises(ValidationError):
            store.put_bytes(key, b"x")


def test_read_stream_serves_byte_ranges(store: BlobStore) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    store.put_bytes("lectures/5/360p.mp4", data)
    assert b"".join(store.read_stream("lectures/5/360p.mp4", chunk_size=100_000)) == data
    assert (
        b"".join(store.read_stream("lectures/5/360p.mp4", start=1000, end=1999)) == data[1000:2000]
    )
    assert b"".join(store.read_stream("lectures/5/360p.mp4", start=len(data) - 10)) == data[-10:]
    with pytest.raises(FileNotFoundError):
        b"".join(store.read_stream("lectures/5/none.mp4"))


def test_resumable_upload_continues_after_the_parts_already_received(store: BlobStore) -> None:
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(123_457)]
    upload_id = store.start_upload("lectures/6/source.mp4", content_type="video/mp4")
    store.put_part("lectures/6/source.mp4", upload_id, 1, parts[0])
    # The connection drops; the browser asks what arrived and sends the rest.
    assert store.uploaded_parts("lectures/6/source.mp4", upload_id) == {1: 5 * MIB}
    store.put_part("lectures/6/source.mp4", upload_id, 2, parts[1])
    store.put_part("lectures/6/source.mp4", upload_id, 3, parts[2])
    stored = store.complete_upload("lectures/6/source.mp4", upload_id)
    assert stored.size == sum(len(part) for part in parts)
    assert b"".join(store.read_stream("lectures/6/source.mp4")) == b"".join(parts)


def test_aborted_upload_leaves_nothing_behind(store: BlobStore) -> None:
    upload_id = store.start_upload("lectures/7/source.mp4")
    store.put_part("lectures/7/source.mp4", upload_id, 1, b"partial")
    store.abort_upload("lectures/7/source.mp4", upload_id)
    assert not store.exists("lectures/7/source.mp4")
    with pytest.raises(UploadNotFound):  # "no upload in progress", not a missing object
        store.uploaded_parts("lectures/7/source.mp4", upload_id)
    with pytest.raises(UploadNotFound):
        store.put_part("lectures/7/source.mp4", upload_id, 1, b"late")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("SlowDown", 503, StorageUnavailable),  # throttling: transient
        ("InternalError", 500, StorageUnavailable),
        ("ServiceUnavailable", 503, StorageUnavailable),
        ("XMinioServerNotInitialized", 503, StorageUnavailable),  # any 5xx
        ("AccessDenied", 403, StorageAuthError),  # permanent: the operator's to fix
        ("NoSuchBucket", 404, BucketMissing),
        ("NoSuchKey", 404, FileNotFoundError),
    ],
)
def test_s3_errors_map_to_transient_or_permanent_errors(
    code: str, status: int, expected: type[Exception]
) -> None:
    # botocore's own exception, built as botocore builds it from a response (no server needed
    # to say "503 SlowDown"; the mapping of real responses is tested against SeaweedFS above).
    error = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )
    with pytest.raises(expected), storage_errors("lectures/1/source"):
        raise error


def test_an_upload_refused_for_bad_credentials_is_an_auth_error_not_a_boto3_one(
    embedded_s3: EmbeddedSeaweedFS, tmp_path: Path
) -> None:
    client = make_s3_client(embedded_s3.endpoint_url, S3_ACCESS_KEY, "wrong", max_attempts=1)
    source = tmp_path / "part.bin"
    source.write_bytes(b"x" * 1000)
    with pytest.raises(StorageAuthError):  # boto3 wraps it in S3UploadFailedError
        S3BlobStore(client, embedded_s3.bucket).put_file("denied/part.bin", source)


def test_check_writes_reads_and_removes_a_probe_object(s3_store: S3BlobStore) -> None:
    s3_store.check()
    assert list(s3_store.list(".clinicast/check/")) == []
