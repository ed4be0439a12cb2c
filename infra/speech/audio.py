"""Decoding audio for Whisper in bounded memory.

faster-whisper's own ``decode_audio`` holds the whole file as float32 and then its feature
extractor computes one STFT over all of it: about 1.5 GB for a two-hour lecture. Here PyAV
decodes the file as a stream and hands out windows of a few minutes (16 kHz mono float32, ~19 MB
for 5 minutes), each cut at the quietest tenth of a second near its end so that a cut rarely
splits a word.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from training.errors import SpeechError

SAMPLE_RATE = 16_000
WINDOW_SECONDS = 300.0
CUT_SEARCH_SECONDS = 10.0
CUT_FRAME_SECONDS = 0.1

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AudioWindow:
    """A stretch of decoded audio and where it starts in the file, in seconds."""

    offset: float
    samples: Samples

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def probe_duration(path: Path) -> float | None:
    """The duration the container declares, in seconds, or None when it declares none."""
    with _open(path) as container:
        stream = _audio_stream(container, path)
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / av.time_base
    return None


def iter_audio_windows(path: Path, window_seconds: float = WINDOW_SECONDS) -> Iterator[AudioWindow]:
    """The audio of ``path`` as 16 kHz mono float32 windows of about ``window_seconds``.

    Raises :class:`SpeechError` for a file that is not media or has no audio stream.
    """
    window_samples = int(window_seconds * SAMPLE_RATE)
    pending: list[Samples] = []
    pending_samples = 0
    offset_samples = 0
    for block in _decode(path):
        pending.append(block)
        pending_samples += len(block)
        while pending_samples >= window_samples:
            audio = np.concatenate(pending)
            cut = quietest_cut(audio, window_samples)
            yield AudioWindow(offset_samples / SAMPLE_RATE, audio[:cut])
            offset_samples += cut
            pending, pending_samples = [audio[cut:]], len(audio) - cut
    if pending_samples:
        yield AudioWindow(offset_samples / SAMPLE_RATE, np.concatenate(pending))


def quietest_cut(audio: Samples, window_samples: int) -> int:
    """A sample index near ``window_samples``: the middle of the quietest 0.1 s in the last 10 s
    (or the last quarter of a shorter window)."""
    frame = int(CUT_FRAME_SECONDS * SAMPLE_RATE)
    search = min(int(CUT_SEARCH_SECONDS * SAMPLE_RATE), window_samples // 4)
    start = window_samples - search
    region = audio[start:window_samples]
    frames = len(region) // frame
    if frames == 0:
        return window_samples
    energy = np.square(region[: frames * frame].reshape(frames, frame)).mean(axis=1)
    return start + int(np.argmin(energy)) * frame + frame // 2


def _decode(path: Path) -> Iterator[Samples]:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    with _open(path) as container:
        stream = _audio_stream(container, path)
        for frame in _decoded_frames(container, stream):
            frame.pts = None  # the resampler checks timestamps; broken files have bad ones
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)


def _decoded_frames(
    container: av.container.InputContainer, stream: av.AudioStream
) -> Iterator[av.AudioFrame]:
    # Packet by packet, so that a damaged packet in the middle of a long recording costs a few
    # milliseconds of audio rather than the rest of the file.
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            continue
        yield from frames


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise SpeechError(f"{path}: no such file")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise SpeechError(
            f"{path.name}: not a readable audio or video file ({exc.strerror})"
        ) from exc


def _audio_stream(container: av.container.InputContainer, path: Path) -> av.AudioStream:
    if not container.streams.audio:
        raise SpeechError(f"{path.name}: the file has no audio stream")
    return container.streams.audio[0]
