"""The object store the settings describe."""

from __future__ import annotations

from infra.settings import Settings
from infra.storage.s3 import MIB, S3BlobStore
from infra.storage.s3_client import make_s3_client


def blob_store_from_settings(settings: Settings) -> S3BlobStore:
    """The S3 store of the settings: the embedded SeaweedFS (same endpoint and generated
    credentials the supervisor uses) or an external S3-compatible service."""
    access_key, secret_key = settings.storage_credentials()
    storage = settings.storage
    client = make_s3_client(
        settings.storage_endpoint,
        access_key,
        secret_key,
        region=storage.region,
        addressing_style=storage.addressing_style,
        connect_timeout=storage.connect_timeout,
        max_attempts=storage.max_attempts,
    )
    return S3BlobStore(
        client,
        storage.bucket,
        multipart_threshold=storage.multipart_threshold_mb * MIB,
        multipart_chunksize=storage.multipart_chunk_mb * MIB,
        max_concurrency=storage.max_concurrency,
    )
