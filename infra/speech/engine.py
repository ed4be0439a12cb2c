"""Loading CTranslate2 Whisper models: device and precision choice, GPU fallback, one per process.

``device="auto"`` takes CUDA when CTranslate2 sees a GPU, else the CPU; ``compute_type="auto"``
takes float16 on CUDA and int8 on the CPU (the fastest choice each has). A GPU that fails to load
the model falls back to the CPU with int8, with a warning, so a broken driver slows a worker down
instead of stopping it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import ctranslate2
from faster_whisper import WhisperModel

from training.errors import SpeechError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
CPU_COMPUTE_TYPE = "int8"
GPU_COMPUTE_TYPE = "float16"


@dataclass(frozen=True)
class LoadedModel:
    """A model in memory and where it runs."""

    whisper: WhisperModel
    model_dir: Path
    device: str
    compute_type: str


_cache: dict[tuple[str, str, str, int], LoadedModel] = {}
_cache_lock = threading.Lock()


def choose_device(device: str) -> str:
    """``cuda`` or ``cpu`` for a setting value of ``auto``, ``cpu`` or ``cuda``."""
    if device not in DEVICES:
        raise SpeechError(
            f"unknown device {device!r}: use auto, cpu or cuda (setting: CLINICAST_SPEECH__DEVICE)"
        )
    if device != "auto":
        return device
    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def choose_compute_type(compute_type: str, device: str) -> str:
    """The CTranslate2 compute type: ``auto`` becomes float16 on CUDA and int8 on the CPU."""
    if compute_type != "auto":
        return compute_type
    return GPU_COMPUTE_TYPE if device == "cuda" else CPU_COMPUTE_TYPE


def load_model(
    model_dir: Path, *, device: str = "auto", compute_type: str = "auto", cpu_threads: int = 0
) -> LoadedModel:
    """The model in ``model_dir``, loaded once per process for each device and compute type."""
    chosen_device = choose_device(device)
    chosen_type = choose_compute_type(compute_type, chosen_device)
    key = (str(model_dir.resolve()), chosen_device, chosen_type, cpu_threads)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = _load(model_dir, chosen_device, chosen_type, cpu_threads)
        return _cache[key]


def load_on_cpu(model_dir: Path, *, cpu_threads: int = 0) -> LoadedModel:
    """The CPU int8 model: the fallback when a GPU fails during transcription."""
    return load_model(
        model_dir, device="cpu", compute_type=CPU_COMPUTE_TYPE, cpu_threads=cpu_threads
    )


def _load(model_dir: Path, device: str, compute_type: str, cpu_threads: int) -> LoadedModel:
    try:
        whisper = WhisperModel(
            str(model_dir), device=device, compute_type=compute_type, cpu_threads=cpu_threads
        )
    except (RuntimeError, ValueError, OSError) as exc:
        if device == "cuda":
            log.warning("loading Whisper on the GPU failed (%s); using the CPU with int8", exc)
            return _load(model_dir, "cpu", CPU_COMPUTE_TYPE, cpu_threads)
        raise SpeechError(f"cannot load the Whisper model in {model_dir}: {exc}") from exc
    return LoadedModel(
        whisper=whisper, model_dir=model_dir, device=device, compute_type=compute_type
    )
