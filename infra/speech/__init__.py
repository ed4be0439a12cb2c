"""Speech-to-text: the faster-whisper implementation of ``training.ports.Transcriber``, where its
model comes from (a directory, the PyPI-packaged *base*, a hub download) and the normalisation of
Chinese output to Simplified characters."""

from infra.speech.engine import LoadedModel, choose_compute_type, choose_device, load_model
from infra.speech.models import (
    PACKAGED_SHA256,
    assemble_packaged_model,
    packaged_model_installed,
    resolve_model,
    verify_packaged_model,
)
from infra.speech.transcriber import (
    TranscriptionCancelledError,
    TranscriptionInterruptedError,
    TranscriptionTimeLimitError,
    WhisperTranscriber,
)

__all__ = [
    "PACKAGED_SHA256",
    "LoadedModel",
    "TranscriptionCancelledError",
    "TranscriptionInterruptedError",
    "TranscriptionTimeLimitError",
    "WhisperTranscriber",
    "assemble_packaged_model",
    "choose_compute_type",
    "choose_device",
    "load_model",
    "packaged_model_installed",
    "resolve_model",
    "verify_packaged_model",
]
