"""Where the Whisper model comes from: assembly of the packaged model, its verification, model
resolution and the choice of device (no transcription here)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from infra.speech import (
    PACKAGED_SHA256,
    WhisperTranscriber,
    assemble_packaged_model,
    choose_compute_type,
    choose_device,
    engine,
    models,
    packaged_model_installed,
    resolve_model,
    verify_packaged_model,
)
from training.errors import SpeechError


@pytest.fixture(scope="module")
def assembled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return assemble_packaged_model(tmp_path_factory.mktemp("models"))


@pytest.fixture
def fresh_copy(assembled: Path, tmp_path: Path) -> Path:
    """A private copy of the assembled model that a test may damage."""
    target = tmp_path / "models" / "whisper-base"
    target.mkdir(parents=True)
    for file in assembled.iterdir():
        shutil.copyfile(file, target / file.name)
    return target


def test_packaged_model_is_installed_and_assembles_to_pinned_digests(assembled: Path) -> None:
    assert packaged_model_installed()
    assert sorted(p.name for p in assembled.iterdir()) == sorted(PACKAGED_SHA256)
    assert verify_packaged_model(assembled) is None
    assert (assembled / "model.bin").stat().st_size == 145_217_607


def test_verified_model_is_not_assembled_again(assembled: Path) -> None:
    before = (assembled / "model.bin").stat().st_mtime_ns
    assert assemble_packaged_model(assembled.parent) == assembled
    assert (assembled / "model.bin").stat().st_mtime_ns == before


def test_corrupted_model_file_is_detected_and_rebuilt(fresh_copy: Path) -> None:
    with (fresh_copy / "model.bin").open("r+b") as model_file:
        model_file.seek(50_000_000)
        byte = model_file.read(1)
        model_file.seek(50_000_000)
        model_file.write(bytes([byte[0] ^ 0xFF]))
    assert verify_packaged_model(fresh_copy) == "model.bin does not match its SHA-256"
    assert assemble_packaged_model(fresh_copy.parent) == fresh_copy
    assert verify_packaged_model(fresh_copy) is None


def test_partial_model_file_is_detected_and_rebuilt(fresh_copy: Path) -> None:
    with (fresh_copy / "model.bin").open("r+b") as model_file:
        model_file.truncate(1024 * 1024)
    assert verify_packaged_model(fresh_copy) is not None
    assemble_packaged_model(fresh_copy.parent)
    assert verify_packaged_model(fresh_copy) is None


def test_model_that_cannot_be_verified_is_never_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(models.PACKAGED_SHA256, "model.bin", "0" * 64)
    loads: list[Any] = []
    monkeypatch.setattr(engine, "_load", lambda *args: loads.append(args))
    whisper = WhisperTranscriber("base", data_dir=tmp_path, device="cpu")
    with pytest.raises(SpeechError, match=r"does not verify \(model.bin does not match"):
        whisper.load()
    assert loads == []


def test_concurrent_assemblies_give_one_verified_model(tmp_path: Path) -> None:
    results: list[Path] = []
    errors: list[BaseException] = []

    def assemble() -> None:
        try:
            results.append(assemble_packaged_model(tmp_path / "models"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=assemble) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [tmp_path / "models" / "whisper-base"] * 2
    assert verify_packaged_model(results[0]) is None
    assert [p.name for p in (tmp_path / "models").iterdir() if p.name.startswith(".")] == []


def test_model_directory_is_used_as_it_is(tmp_path: Path) -> None:
    assert resolve_model(str(tmp_path), tmp_path / "data") == tmp_path


def test_missing_model_directory_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SpeechError, match="CLINICAST_SPEECH__MODEL"):
        resolve_model(str(tmp_path / "no-such-model"), tmp_path)


def test_unknown_model_name_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SpeechError, match=r"unknown Whisper model 'huge'.*CLINICAST_SPEECH__MODEL"):
        resolve_model("huge", tmp_path)


def test_failed_download_is_a_speech_error_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faster_whisper.utils

    requested: list[tuple[str, Any]] = []

    def unreachable_hub(name: str, **kwargs: Any) -> str:
        requested.append((name, kwargs.get("cache_dir")))
        raise ConnectionError("huggingface.co unreachable")

    monkeypatch.setattr(faster_whisper.utils, "download_model", unreachable_hub)
    with pytest.raises(
        SpeechError, match=r"could not download Whisper model 'small'.*CLINICAST_SPEECH__MODEL"
    ):
        resolve_model("small", tmp_path)
    assert requested == [("small", str(tmp_path / "models"))]


def test_auto_device_takes_cuda_only_when_ctranslate2_sees_a_gpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 0)
    assert choose_device("auto") == "cpu"
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    assert choose_device("auto") == "cuda"
    assert choose_device("cpu") == "cpu"
    with pytest.raises(SpeechError, match="CLINICAST_SPEECH__DEVICE"):
        choose_device("tpu")


def test_auto_compute_type_is_float16_on_gpu_and_int8_on_cpu() -> None:
    assert choose_compute_type("auto", "cuda") == "float16"
    assert choose_compute_type("auto", "cpu") == "int8"
    assert choose_compute_type("int8_float32", "cpu") == "int8_float32"


def test_gpu_failure_falls_back_to_cpu_int8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[tuple[str, str]] = []

    class GpuLessWhisperModel:
        def __init__(self, path: str, *, device: str, compute_type: str, cpu_threads: int) -> None:
            attempts.append((device, compute_type))
            if device == "cuda":
                raise RuntimeError("CUDA driver version is insufficient")

    monkeypatch.setattr(engine, "WhisperModel", GpuLessWhisperModel)
    monkeypatch.setattr(engine, "_cache", {})
    loaded = engine.load_model(tmp_path, device="cuda", compute_type="auto")
    assert (loaded.device, loaded.compute_type) == ("cpu", "int8")
    assert attempts == [("cuda", "float16"), ("cpu", "int8")]
    assert "using the CPU" in caplog.text
