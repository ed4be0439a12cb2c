"""Setting up a bucket of an external S3 service (``clinicast storage init``): CORS for direct
media delivery, and a lifecycle rule that aborts abandoned multipart uploads."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from infra.storage.s3 import S3BlobStore
from infra.storage.s3_client import error_code, storage_errors

CORS_RULE_ID = "clinicast-media"
LIFECYCLE_RULE_ID = "clinicast-abort-abandoned-uploads"


def allow_origins(store: S3BlobStore, origins: list[str]) -> None:
    """CORS: browsers on ``origins`` may GET media (with Range) straight from the bucket
    (direct delivery). Other rules of the bucket are kept; ours is replaced by its ID."""
    rule: Any = {
        "ID": CORS_RULE_ID, "AllowedOrigins": origins, "AllowedMethods": ["GET", "HEAD"],
        "AllowedHeaders": ["*"], "MaxAgeSeconds": 3600,
        "ExposeHeaders": ["Content-Length", "Content-Range", "Accept-Ranges", "ETag"],
    }  # fmt: skip
    with storage_errors(f"bucket {store.bucket}"):
        try:
            rules = store.client.get_bucket_cors(Bucket=store.bucket)["CORSRules"]
        except ClientError as exc:
            if error_code(exc) != "NoSuchCORSConfiguration":
                raise
            rules = []
        rules = [r for r in rules if r.get("ID") != CORS_RULE_ID] + [rule]
        store.client.put_bucket_cors(Bucket=store.bucket, CORSConfiguration={"CORSRules": rules})


def expire_abandoned_uploads(store: S3BlobStore, days: int) -> None:
    """Lifecycle: abort multipart uploads still unfinished ``days`` after they began (an
    upload given up by its browser keeps its parts otherwise). Other rules are kept."""
    rule: Any = {
        "ID": LIFECYCLE_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
    }  # fmt: skip
    with storage_errors(f"bucket {store.bucket}"):
        try:
            config = store.client.get_bucket_lifecycle_configuration(Bucket=store.bucket)
            rules: list[Any] = list(config.get("Rules", []))
        except ClientError as exc:
            if error_code(exc) != "NoSuchLifecycleConfiguration":
                raise
            rules = []
        rules = [r for r in rules if r.get("ID") != LIFECYCLE_RULE_ID] + [rule]
        store.client.put_bucket_lifecycle_configuration(
            Bucket=store.bucket, LifecycleConfiguration={"Rules": rules}
        )
