"""Object storage: the S3 implementation of ``training.ports.BlobStore`` (boto3), a local
directory implementation, and the embedded SeaweedFS server of the single-machine mode."""

from infra.storage.local import LocalBlobStore
from infra.storage.s3 import S3BlobStore
from infra.storage.s3_client import make_s3_client

__all__ = ["LocalBlobStore", "S3BlobStore", "make_s3_client"]
