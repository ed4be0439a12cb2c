"""The boto3 seam: the one factory of S3 clients, and the mapping of boto3's errors to ours
(a missing object is ``FileNotFoundError``, a multipart upload no longer in progress
``UploadNotFound``; refused credentials and a missing bucket are
permanent; an unreachable, overloaded or failing service is ``StorageUnavailable``, which the
job engine retries for a long while)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import boto3
from boto3.exceptions import Boto3Error, RetriesExceededError, S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from training.errors import (
    BucketMissing,
    ConfigurationError,
    StorageAuthError,
    StorageError,
    StorageUnavailable,
    UploadNotFound,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

NOT_FOUND = {"NoSuchKey", "404", "NotFound", "NoSuchUpload"}
DENIED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "Forbidden"}


def make_s3_client(
    endpoint_url: str,
    access_key: str,
    secret_key: str,
    *,
    region: str = "us-east-1",
    addressing_style: str = "path",
    connect_timeout: float = 5.0,
    max_attempts: int = 5,
) -> S3Client:
    """The one place boto3 clients are made: retries with backoff ("standard" mode), short
    connect timeouts, and checksums only where S3 requires them (we keep our own SHA-256, and
    not every S3-compatible server speaks the newer CRC headers)."""
    config = Config(
        region_name=region,
        signature_version="s3v4",
        s3=cast(Any, {"addressing_style": addressing_style}),
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=120,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
    )


TRANSIENT = {
    "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "Throttling",
    "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "500", "502", "503", "504",
}  # fmt: skip
"""Error codes that say "not now" rather than "never": retried by the job engine."""


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Map boto3's errors to ours at the seam: a missing object is ``FileNotFoundError``, a
    refused credential ``StorageAuthError`` (permanent), an unreachable or overloaded service
    ``StorageUnavailable`` (transient: the job engine retries it for a long while)."""
    try:
        yield
    except (ClientError, BotoCoreError, Boto3Error) as exc:
        raise _mapped(exc, what) from None


def _mapped(exc: BaseException, what: str) -> Exception:
    if isinstance(exc, S3UploadFailedError) and exc.__context__ is not None:
        return _mapped(exc.__context__, what)  # boto3 wraps the ClientError of a part upload
    if isinstance(exc, RetriesExceededError):
        return StorageUnavailable(
            f"object storage failed on {what}: {getattr(exc, 'last_exception', exc)}"
        )
    if isinstance(exc, ClientError):
        return _client_error(exc, what)
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return StorageUnavailable(
            f"object storage is unreachable (CLINICAST_STORAGE__ENDPOINT_URL): {exc}"
        )
    return StorageError(f"object storage failed on {what}: {exc}")


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _client_error(exc: ClientError, what: str) -> Exception:
    code = error_code(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in NOT_FOUND:  # NoSuchUpload: completed, aborted, or expired by a lifecycle rule
        return (
            UploadNotFound(f"{what}: no upload in progress")
            if code == "NoSuchUpload"
            else FileNotFoundError(what)
        )
    if code in DENIED:
        return StorageAuthError(
            f"object storage refused access to {what} ({code}): check "
            "CLINICAST_STORAGE__ACCESS_KEY and CLINICAST_STORAGE__SECRET_KEY"
        )
    if code == "InvalidBucketName":
        return ConfigurationError("CLINICAST_STORAGE__BUCKET", f"not a valid bucket name: {what}")
    if code == "NoSuchBucket":
        return BucketMissing(
            f"the bucket of {what} does not exist (CLINICAST_STORAGE__BUCKET): create it, or "
            "run `clinicast storage init`"
        )
    if code in TRANSIENT or status >= 500:
        return StorageUnavailable(f"object storage is busy or failing on {what}: {code} {exc}")
    return StorageError(f"object storage failed on {what}: {code} {exc}")
