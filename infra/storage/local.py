"""``BlobStore`` on a local directory: for tests of the layers above storage, and for a
deployment that keeps media on a mounted disk. Objects live under ``root/objects``; their
SHA-256 and content type under ``root/meta`` (JSON beside nothing the player fetches)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from infra.files import CHUNK, replacing, sha256_bytes, sha256_file
from training.errors import IntegrityError, StorageError, UploadNotFound, ValidationError
from training.ports import PendingUpload, ProgressCallback, StoredObject


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.meta = root / "meta"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.meta.mkdir(parents=True, exist_ok=True)

    def _paths(self, key: str) -> tuple[Path, Path]:
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or any(part in ("..", ".") for part in parts):
            raise ValidationError(f"not a valid object key: {key!r}")
        return self.objects.joinpath(*parts), self.meta.joinpath(*parts[:-1], parts[-1] + ".json")

    def check(self) -> None:
        if not os.access(self.objects, os.W_OK):
            raise StorageError(f"{self.objects} is not writable")

    def _write_meta(
        self, key: str, size: int, digest: str, content_type: str | None
    ) -> StoredObject:
        _, meta = self._paths(key)
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps({"size": size, "sha256": digest, "content_type": content_type}))
        return StoredObject(key, size, digest, content_type)

    def _atomic_write(
        self, target: Path, source: Path | bytes, progress: ProgressCallback | None
    ) -> None:
        with replacing(target) as partial, partial.open("wb") as out:
            if isinstance(source, bytes):
                out.write(source)
                return
            with source.open("rb") as src:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                    if progress:
                        progress(len(chunk))

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        content_type: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> StoredObject:
        target, _ = self._paths(key)
        self._atomic_write(target, path, progress)
        return self._write_meta(key, target.stat().st_size, sha256_file(target), content_type)

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> StoredObject:
        target, _ = self._paths(key)
        self._atomic_write(target, data, None)
        return self._write_meta(key, len(data), sha256_bytes(data), content_type)

    def stat(self, key: str) -> StoredObject:
        target, meta = self._paths(key)
        if not target.is_file():
            raise FileNotFoundError(key)
        info = json.loads(meta.read_text()) if meta.exists() else {}
        return StoredObject(
            key, target.stat().st_size, info.get("sha256"), info.get("content_type")
        )

    def exists(self, key: str) -> bool:
        return self._paths(key)[0].is_file()

    def get_file(
        self, key: str, path: Path, *, progress: ProgressCallback | None = None
    ) -> StoredObject:
        stored = self.stat(key)
        self._atomic_write(path, self._paths(key)[0], progress)
        if stored.sha256 and sha256_file(path) != stored.sha256:
            path.unlink()
            raise IntegrityError(f"{key}: SHA-256 does not match the recorded one")
        return stored

    def get_bytes(self, key: str) -> bytes:
        stored = self.stat(key)
        data = self._paths(key)[0].read_bytes()
        if stored.sha256 and sha256_bytes(data) != stored.sha256:
            raise IntegrityError(f"{key}: SHA-256 does not match the recorded one")
        return data

    def list(self, prefix: str) -> Iterator[StoredObject]:
        for path in sorted(self.objects.rglob("*")):
            key = path.relative_to(self.objects).as_posix()
            if path.is_file() and not path.name.endswith(".part") and key.startswith(prefix):
                stat = path.stat()
                yield StoredObject(key, stat.st_size, modified=_utc(stat.st_mtime))

    def copy(self, source_key: str, target_key: str) -> None:
        stored = self.stat(source_key)
        target, _ = self._paths(target_key)
        self._atomic_write(target, self._paths(source_key)[0], None)
        self._write_meta(
            target_key, stored.size, stored.sha256 or sha256_file(target), stored.content_type
        )

    def delete(self, key: str) -> None:
        for path in self._paths(key):
            path.unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        keys = [obj.key for obj in self.list(prefix)]
        for key in keys:
            self.delete(key)
        return len(keys)

    def url_for(self, key: str, *, expires_in: int, download_name: str | None = None) -> str | None:
        return None  # the portal serves local objects itself

    def read_stream(
        self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> Iterator[bytes]:
        target, _ = self._paths(key)
        if not target.is_file():
            raise FileNotFoundError(key)
        remaining = None if end is None else end - start + 1
        with target.open("rb") as handle:
            handle.seek(start)
            while remaining is None or remaining > 0:
                chunk = handle.read(chunk_size if remaining is None else min(chunk_size, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def _upload_dir(self, key: str, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise ValidationError(f"not an upload id: {upload_id!r}")
        folder = self.root / "uploads" / upload_id
        if not (folder / "key").is_file() or (folder / "key").read_text() != key:
            raise UploadNotFound(f"{key}: no upload {upload_id} in progress")
        return folder

    def start_upload(self, key: str, *, content_type: str | None = None) -> str:
        self._paths(key)
        upload_id = secrets.token_hex(16)
        folder = self.root / "uploads" / upload_id
        folder.mkdir(parents=True)
        (folder / "key").write_text(key)
        (folder / "content_type").write_text(content_type or "")
        return upload_id

    def put_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> None:
        if not 1 <= part_number <= 10_000:
            raise ValidationError(f"part number {part_number} is outside 1–10000")
        self._atomic_write(self._upload_dir(key, upload_id) / f"{part_number:05d}.part", data, None)

    def uploaded_parts(self, key: str, upload_id: str) -> dict[int, int]:
        folder = self._upload_dir(key, upload_id)
        return {int(part.stem): part.stat().st_size for part in sorted(folder.glob("[0-9]*.part"))}

    def complete_upload(self, key: str, upload_id: str) -> StoredObject:
        folder = self._upload_dir(key, upload_id)
        parts = sorted(folder.glob("[0-9]*.part"))
        if not parts:
            raise ValidationError(f"{key}: nothing was uploaded")
        target, _ = self._paths(key)
        with replacing(target) as assembled, assembled.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    shutil.copyfileobj(handle, out, CHUNK)
        content_type = (folder / "content_type").read_text() or None
        shutil.rmtree(folder)
        return self._write_meta(key, target.stat().st_size, sha256_file(target), content_type)

    def abort_upload(self, key: str, upload_id: str) -> None:
        shutil.rmtree(self._upload_dir(key, upload_id), ignore_errors=True)

    def pending_uploads(self, prefix: str) -> Iterator[PendingUpload]:
        for marker in sorted((self.root / "uploads").glob("*/key")):
            key = marker.read_text()
            if key.startswith(prefix):
                initiated = _utc(marker.parent.stat().st_mtime)
                yield PendingUpload(key, marker.parent.name, initiated)


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
