"""The faster-whisper implementation of :class:`training.ports.Transcriber`.

Guardrails, each measured as needed on lecture audio:

* ``vad_filter=True``: silence and music between sentences never reach the decoder, where Whisper
  would hallucinate text.
* ``condition_on_previous_text=False``: one misheard sentence cannot start a repetition loop.
* The caller's prompt (lecture title and keywords) goes to faster-whisper as ``hotwords``, which
  precede *every* 30 s chunk. An ``initial_prompt`` would only reach the first chunk when the
  previous text is not conditioned on, and domain words (降压药) are needed all lecture long.
* A wall-time cap: Whisper's temperature fallback can loop on unclear audio and push the
  real-time factor above 1. Past ``time_limit_floor + time_limit_factor × audio decoded`` seconds
  the transcription stops and raises :class:`TranscriptionTimeLimitError`; the segments done so
  far travel on the exception (``.partial``) so a job can keep them if it chooses. Raising rather
  than returning keeps a truncated transcript from being stored as if it were whole.
* Cancellation (a ``threading.Event``) is checked between segments and raises
  :class:`TranscriptionCancelledError`, also carrying ``.partial``.
* Audio is decoded in windows of a few minutes (:mod:`infra.speech.audio`), so memory stays
  bounded for a lecture of any length.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from infra.speech.audio import WINDOW_SECONDS, AudioWindow, iter_audio_windows, probe_duration
from infra.speech.engine import LoadedModel, load_model, load_on_cpu
from infra.speech.models import resolve_model
from training.errors import SpeechError
from training.ports import SpeechSegment, Transcription
from training.transcripts.chinese import normalise_text

log = logging.getLogger(__name__)

UNDETERMINED_LANGUAGE = "und"
"""The language of a transcript without speech when none was given (BCP 47 "undetermined")."""


class TranscriptionInterruptedError(SpeechError):
    """Transcription stopped before the end; ``partial`` holds what was recognised until then."""

    def __init__(self, message: str, partial: Transcription) -> None:
        super().__init__(message)
        self.partial = partial


class TranscriptionTimeLimitError(TranscriptionInterruptedError):
    """The wall-time cap was reached (Whisper was looping on unclear audio)."""


class TranscriptionCancelledError(TranscriptionInterruptedError):
    """The caller set the ``cancelled`` event."""


@dataclass
class _Run:
    """The state of one transcription while it runs."""

    audio: Path
    language: str | None
    prompt: str | None
    progress: Callable[[float], None] | None
    cancelled: threading.Event | None
    expected_duration: float | None
    started: float = field(default_factory=time.monotonic)
    decoded: float = 0.0
    segments: list[SpeechSegment] = field(default_factory=list)

    def result(self) -> Transcription:
        language = self.language or UNDETERMINED_LANGUAGE
        return Transcription(language=language, duration=self.decoded, segments=self.segments)

    def report(self, seconds_done: float) -> None:
        if self.progress is not None and self.expected_duration:
            self.progress(min(1.0, seconds_done / self.expected_duration))


class WhisperTranscriber:
    """Speech-to-text with faster-whisper (CTranslate2).

    ``model`` is the setting value: a model directory, ``base`` (the PyPI-packaged model) or a
    Whisper model name that faster-whisper downloads into ``data_dir/models``. The model is
    resolved and loaded on first use (or by :meth:`load`) and shared by every transcriber of the
    process with the same model, device and compute type.
    """

    def __init__(
        self,
        model: str = "base",
        *,
        data_dir: Path,
        device: str = "auto",
        compute_type: str = "auto",
        beam_size: int = 1,
        cpu_threads: int = 0,
        time_limit_factor: float = 1.5,
        time_limit_floor: float = 60.0,
        window_seconds: float = WINDOW_SECONDS,
    ) -> None:
        self.model = model
        self.data_dir = data_dir
        self.device = device
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self.time_limit_factor = time_limit_factor
        self.time_limit_floor = time_limit_floor
        self.window_seconds = window_seconds
        self._loaded: LoadedModel | None = None

    def load(self) -> LoadedModel:
        """Resolve and load the model now (otherwise the first transcription does it)."""
        if self._loaded is None:
            model_dir = resolve_model(self.model, self.data_dir)
            self._loaded = load_model(
                model_dir,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=self.cpu_threads,
            )
        return self._loaded

    def transcribe(
        self,
        audio: Path,
        *,
        language: str | None = None,
        initial_prompt: str | None = None,
        progress: Callable[[float], None] | None = None,
        cancelled: threading.Event | None = None,
    ) -> Transcription:
        """Transcribe ``audio`` (any file FFmpeg reads). ``language`` is a Whisper code such as
        ``zh`` or ``en``; None or ``auto`` detects it. Chinese text comes out in Simplified
        characters. A file without speech gives a transcript without segments."""
        loaded = self.load()
        run = _Run(
            audio=Path(audio),
            language=self._checked_language(loaded, language),
            prompt=initial_prompt.strip() if initial_prompt and initial_prompt.strip() else None,
            progress=progress,
            cancelled=cancelled,
            expected_duration=probe_duration(Path(audio)),
        )
        try:
            return self._transcribe(loaded, run)
        except RuntimeError as exc:
            if loaded.device != "cuda":
                raise SpeechError(f"{run.audio.name}: transcription failed: {exc}") from exc
            # Missing cuBLAS/cuDNN libraries only show at the first decode, not at load time.
            log.warning("Whisper failed on the GPU (%s); transcribing on the CPU", exc)
            self._loaded = load_on_cpu(loaded.model_dir, cpu_threads=self.cpu_threads)
            fresh = _Run(
                run.audio, run.language, run.prompt, progress, cancelled, run.expected_duration
            )
            return self._transcribe(self._loaded, fresh)

    def _transcribe(self, loaded: LoadedModel, run: _Run) -> Transcription:
        for window in iter_audio_windows(run.audio, self.window_seconds):
            self._transcribe_window(loaded, run, window)
            run.decoded = window.offset + window.duration
            run.report(run.decoded)
        if run.progress is not None:
            run.progress(1.0)
        return run.result()

    def _transcribe_window(self, loaded: LoadedModel, run: _Run, window: AudioWindow) -> None:
        budget = self.time_limit_floor + self.time_limit_factor * (window.offset + window.duration)
        self._check_cancelled(run)
        whisper_segments, info = loaded.whisper.transcribe(
            window.samples,
            language=run.language,
            hotwords=run.prompt,
            beam_size=self.beam_size,
            vad_filter=True,
            condition_on_previous_text=False,
        )
        for segment in whisper_segments:
            text = normalise_text(segment.text, info.language)
            if text:
                start = window.offset + segment.start
                end = window.offset + min(segment.end, window.duration)
                run.segments.append(SpeechSegment(start=start, end=max(start, end), text=text))
                if run.language is None:  # the first window with speech decides the language
                    run.language = info.language
            run.report(window.offset + segment.end)
            self._check_cancelled(run)
            self._check_time(run, budget)

    @staticmethod
    def _check_cancelled(run: _Run) -> None:
        if run.cancelled is not None and run.cancelled.is_set():
            raise TranscriptionCancelledError(
                f"{run.audio.name}: transcription cancelled", run.result()
            )

    @staticmethod
    def _check_time(run: _Run, budget: float) -> None:
        elapsed = time.monotonic() - run.started
        if elapsed > budget:
            raise TranscriptionTimeLimitError(
                f"{run.audio.name}: transcription stopped after {elapsed:.0f} s (limit "
                f"{budget:.0f} s); Whisper was probably looping on unclear audio",
                run.result(),
            )

    @staticmethod
    def _checked_language(loaded: LoadedModel, language: str | None) -> str | None:
        if language is None or language == "auto":
            return None
        if language not in loaded.whisper.supported_languages:
            raise SpeechError(
                f"language {language!r} is not one Whisper knows (use zh, en or auto)"
            )
        return language
