"""``BlobStore`` on any S3-compatible service, through boto3.

Large files go up and down as multipart transfers with a fixed part size and a fixed number of
threads, so memory stays bounded whatever the file's size. Every object carries the SHA-256 of
its bytes in its metadata (``x-amz-meta-sha256``), checked after every upload and every download.
"""

from __future__ import annotations

import builtins
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boto3.s3.transfer import TransferConfig

from infra.files import replacing, sha256_bytes, sha256_file
from infra.http import content_disposition
from infra.storage.s3_client import storage_errors
from training.errors import (
    BucketMissing,
    IntegrityError,
    StorageAuthError,
    ValidationError,
)
from training.ports import PendingUpload, ProgressCallback, StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024 * 1024
CHECK_PREFIX = ".clinicast/check/"
"""Where readiness checks write a small object, read it back and delete it."""


class S3BlobStore:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        multipart_threshold: int = 16 * MIB,
        multipart_chunksize: int = 8 * MIB,
        max_concurrency: int = 4,
    ) -> None:
        self.client = client
        self.bucket = bucket
        # Memory in flight is about chunksize × concurrency, whatever the file's size.
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
            max_io_queue=max_concurrency * 2,
            io_chunksize=256 * 1024,
        )

    def ensure_bucket(self) -> bool:
        """Create the bucket if it is missing; True if it was created. Credentials that may
        not create buckets get a ``StorageAuthError`` saying what to do."""
        try:
            self._head_bucket()
        except BucketMissing:
            pass
        else:
            return False
        try:
            with storage_errors(f"bucket {self.bucket}"):
                self.client.create_bucket(Bucket=self.bucket)
        except StorageAuthError:
            raise BucketMissing(
                f"the bucket {self.bucket} does not exist and these credentials may not create "
                "it: create it with the storage service's own tools, or run `clinicast storage "
                "init` with credentials that may"
            ) from None
        return True

    def _head_bucket(self) -> None:
        try:
            with storage_errors(f"bucket {self.bucket}"):
                self.client.head_bucket(Bucket=self.bucket)
        except FileNotFoundError:  # HEAD has no body: a missing bucket is a bare 404
            raise BucketMissing(
                f"the bucket {self.bucket} does not exist: create it, or run `clinicast storage "
                "init`"
            ) from None

    def check(self) -> None:
        """Prove that the bucket takes a write and gives it back (an S3 server that answers
        may still fail reads, e.g. SeaweedFS for a while after a restart)."""
        self._head_bucket()
        key = f"{CHECK_PREFIX}{socket.gethostname()}-{os.getpid()}-{os.urandom(4).hex()}"
        token = os.urandom(8).hex().encode()
        self.put_bytes(key, token, content_type="text/plain")
        try:
            if self.get_bytes(key) != token:
                raise IntegrityError(f"{key}: object storage did not give back what was written")
        finally:
            self.delete(key)

    # --- objects ----------------------------------------------------------------------------

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> StoredObject:
        digest = sha256_file(path)
        extra: dict[str, Any] = {"Metadata": {"sha256": digest}}
        if content_type:
            extra["ContentType"] = content_type
        with storage_errors(key):
            self.client.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs=extra,
                Callback=progress,
                Config=self.transfer,
            )
        stored = self.stat(key)
        if stored.size != path.stat().st_size or stored.sha256 != digest:
            raise IntegrityError(f"{key}: the stored object does not match what was uploaded")
        return stored

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> StoredObject:
        digest = sha256_bytes(data)
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        with storage_errors(key):
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, Metadata={"sha256": digest}, **extra
            )
        return StoredObject(key, len(data), digest, content_type)

    def get_file(
        self, key: str, path: Path, *, progress: ProgressCallback | None = None
    ) -> StoredObject:
        """Download to ``path`` (atomically: a temporary file beside it, renamed when verified)."""
        stored = self.stat(key)
        with replacing(path) as partial:
            with storage_errors(key):
                self.client.download_file(
                    self.bucket, key, str(partial), Callback=progress, Config=self.transfer
                )
            self._verify(stored, sha256_file(partial))
        return stored

    def get_bytes(self, key: str) -> bytes:
        with storage_errors(key):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            data = response["Body"].read()
        stored = StoredObject(key, len(data), response.get("Metadata", {}).get("sha256"))
        self._verify(stored, sha256_bytes(data))
        return data

    @staticmethod
    def _verify(stored: StoredObject, actual: str) -> None:
        if stored.sha256 is not None and stored.sha256 != actual:
            raise IntegrityError(
                f"{stored.key}: SHA-256 {actual} does not match the recorded {stored.sha256}"
            )

    def stat(self, key: str) -> StoredObject:
        with storage_errors(key):
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        return StoredObject(
            key,
            int(head["ContentLength"]),
            head.get("Metadata", {}).get("sha256"),
            head.get("ContentType"),
        )

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except FileNotFoundError:
            return False
        return True

    def list(self, prefix: str) -> Iterator[StoredObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        with storage_errors(prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield StoredObject(
                        item["Key"], int(item["Size"]), modified=item["LastModified"]
                    )

    def copy(self, source_key: str, target_key: str) -> None:
        """Server-side copy, metadata (and so the checksum) included; multipart when large."""
        with storage_errors(source_key):
            self.client.copy(
                {"Bucket": self.bucket, "Key": source_key},
                self.bucket,
                target_key,
                Config=self.transfer,
            )

    def delete(self, key: str) -> None:
        with storage_errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        keys = [obj.key for obj in self.list(prefix)]
        for start in range(0, len(keys), 1000):
            batch: list[Any] = [{"Key": key} for key in keys[start : start + 1000]]
            with storage_errors(prefix):
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
        return len(keys)

    def url_for(self, key: str, *, expires_in: int, download_name: str | None = None) -> str | None:
        params: dict[str, str] = {"Bucket": self.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = content_disposition(download_name)
        with storage_errors(key):
            return self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_in
            )

    def read_stream(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> Iterator[bytes]:
        byte_range = f"bytes={start}-{'' if end is None else end}"
        with storage_errors(key):
            body = self.client.get_object(Bucket=self.bucket, Key=key, Range=byte_range)["Body"]
        try:
            while chunk := body.read(chunk_size):
                yield chunk
        finally:
            body.close()

    def start_upload(self, key: str, *, content_type: str | None = None) -> str:
        extra: dict[str, Any] = {"ContentType": content_type} if content_type else {}
        with storage_errors(key):
            return self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)[
                "UploadId"
            ]

    def put_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> None:
        with storage_errors(key):
            self.client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=part_number, Body=data
            )

    def _parts(self, key: str, upload_id: str) -> builtins.list[Any]:
        parts: builtins.list[Any] = []  # "list" alone is the method below
        paginator = self.client.get_paginator("list_parts")
        with storage_errors(key):
            for page in paginator.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id):
                parts.extend(page.get("Parts", []))
        return parts

    def uploaded_parts(self, key: str, upload_id: str) -> dict[int, int]:
        return {int(part["PartNumber"]): int(part["Size"]) for part in self._parts(key, upload_id)}

    def complete_upload(self, key: str, upload_id: str) -> StoredObject:
        parts = sorted(self._parts(key, upload_id), key=lambda part: int(part["PartNumber"]))
        if not parts:
            raise ValidationError(f"{key}: nothing was uploaded")
        with storage_errors(key):
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]},
            )  # fmt: skip
        return self.stat(key)

    def abort_upload(self, key: str, upload_id: str) -> None:
        with storage_errors(key):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def pending_uploads(self, prefix: str) -> Iterator[PendingUpload]:
        paginator = self.client.get_paginator("list_multipart_uploads")
        with storage_errors(prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Uploads", []):
                    yield PendingUpload(item["Key"], item["UploadId"], item["Initiated"])
