"""Probe a source with PyAV (the imageio-ffmpeg wheel ships no ffprobe).

Besides reading the headers, the probe decodes the first frame of the chosen streams and one
near the end, so a truncated or corrupt upload is refused here, before any ladder is planned.
"""

from __future__ import annotations

import contextlib
import itertools
import statistics
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.container import InputContainer
from av.stream import Disposition

from transcoder.errors import InvalidMediaError, ProbeError

__all__ = ["AudioInfo", "MediaInfo", "StreamInfo", "VideoInfo", "probe"]

# How many video packets to look at when deciding whether the frame rate is variable.
_VFR_SAMPLE_PACKETS = 300


@dataclass(frozen=True)
class StreamInfo:
    """One stream of the container, as found (including those we do not use)."""

    index: int
    kind: str  # "video", "audio", "subtitle", "data", "attachment"
    codec: str


@dataclass(frozen=True)
class VideoInfo:
    """The video stream the ladder is made from. Sizes are in pixels; display is after rotation
    and sample aspect ratio, i.e. what a player shows."""

    index: int
    codec: str
    coded_width: int
    coded_height: int
    rotation: int  # degrees counter-clockwise, one of 0, 90, 180, 270
    display_width: int
    display_height: int
    frame_rate: Fraction  # nominal (the container's base rate when variable)
    average_frame_rate: Fraction
    variable_frame_rate: bool
    pixel_format: str

    @property
    def is_portrait(self) -> bool:
        return self.display_height > self.display_width


@dataclass(frozen=True)
class AudioInfo:
    index: int
    codec: str
    channels: int
    layout: str  # "mono", "stereo", "5.1", ...
    sample_rate: int


@dataclass(frozen=True)
class MediaInfo:
    """What ``probe`` found: ``video`` is None for an audio-only source, ``audio`` when silent."""

    path: Path
    format_name: str
    duration: float  # seconds
    size_bytes: int
    streams: tuple[StreamInfo, ...]
    video: VideoInfo | None
    audio: AudioInfo | None


def probe(path: Path | str) -> MediaInfo:
    """Probe ``path``; raise ``InvalidMediaError`` (or ``ProbeError``) with a one-line message."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise ProbeError(f"{path.name}: cannot read the file ({error.strerror})") from error
    if size == 0:
        raise InvalidMediaError(f"{path.name}: the file is empty")
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return _inspect(path, size, container)
    except av.error.FFmpegError as error:
        reason = "not a media file, or truncated" if _is_invalid_data(error) else error.strerror
        raise InvalidMediaError(f"{path.name}: {reason}") from error


def _is_invalid_data(error: av.error.FFmpegError) -> bool:
    return isinstance(error, av.error.InvalidDataError | av.error.EOFError)


def _inspect(path: Path, size: int, container: InputContainer) -> MediaInfo:
    streams = tuple(StreamInfo(s.index, s.type, _codec_name(s)) for s in container.streams)
    video_stream = next(
        (s for s in container.streams.video if not s.disposition & Disposition.attached_pic), None
    )
    audio_stream = next(iter(container.streams.audio), None)
    if video_stream is None and audio_stream is None:
        raise InvalidMediaError(f"{path.name}: no audio or video stream")
    duration = _duration(container)
    if duration <= 0:
        raise InvalidMediaError(f"{path.name}: zero length")
    video = _video_info(path, container, video_stream) if video_stream is not None else None
    audio = _audio_info(path, container, audio_stream) if audio_stream is not None else None
    _check_data_reaches_end(path, container, duration)
    return MediaInfo(path, container.format.name, duration, size, streams, video, audio)


def _codec_name(stream: av.stream.Stream) -> str:
    """The codec's name ("mp3"), not its decoder's ("mp3float")."""
    context = stream.codec_context
    return context.codec.canonical_name if context is not None else "none"


def _duration(container: InputContainer) -> float:
    if container.duration is not None:
        return container.duration / av.time_base
    durations = [
        float(s.duration * s.time_base)
        for s in container.streams
        if s.duration is not None and s.time_base is not None
    ]
    return max(durations, default=0.0)


def _first_frame(path: Path, container: InputContainer, stream: av.stream.Stream) -> object:
    container.seek(0)
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as error:
        raise InvalidMediaError(f"{path.name}: the {stream.type} does not decode") from error
    raise InvalidMediaError(f"{path.name}: the {stream.type} stream has no frames")


def _video_info(path: Path, container: InputContainer, stream: av.video.VideoStream) -> VideoInfo:
    frame = _first_frame(path, container, stream)
    if not isinstance(frame, av.VideoFrame):  # pragma: no cover - decode(video) yields video
        raise InvalidMediaError(f"{path.name}: the video does not decode")
    rotation = frame.rotation % 360
    sample_aspect = stream.sample_aspect_ratio or Fraction(1)
    width, height = frame.width, frame.height
    shown_width = round(width * sample_aspect)
    if rotation in (90, 270):
        display_width, display_height = height, shown_width
    else:
        display_width, display_height = shown_width, height
    variable, rate, average = _frame_rate(container, stream)
    return VideoInfo(
        index=stream.index,
        codec=_codec_name(stream),
        coded_width=width,
        coded_height=height,
        rotation=rotation,
        display_width=display_width,
        display_height=display_height,
        frame_rate=rate,
        average_frame_rate=average,
        variable_frame_rate=variable,
        pixel_format=frame.format.name,
    )


def _frame_rate(
    container: InputContainer, stream: av.video.VideoStream
) -> tuple[bool, Fraction, Fraction]:
    """Decide from packet timestamps whether the rate is variable; return the nominal rate (the
    base rate of a variable-rate phone video, i.e. its highest) and the average rate."""
    container.seek(0)
    timestamps: list[int] = []
    for packet in container.demux(stream):
        if packet.pts is not None:
            timestamps.append(packet.pts)
        if len(timestamps) >= _VFR_SAMPLE_PACKETS:
            break
    timestamps.sort()
    deltas = [b - a for a, b in itertools.pairwise(timestamps) if b > a]
    variable = False
    if len(deltas) >= 2:
        typical = statistics.median(deltas)
        variable = max(deltas) - min(deltas) > max(2, typical / 10)
    rate = stream.average_rate or stream.guessed_rate
    if not rate and deltas and stream.time_base:
        rate = 1 / (sorted(deltas)[len(deltas) // 2] * stream.time_base)
    average = Fraction(rate or 25).limit_denominator(1001)
    nominal = Fraction(stream.guessed_rate or average).limit_denominator(1001)
    return variable, (max(nominal, average) if variable else average), average


def _audio_info(path: Path, container: InputContainer, stream: av.audio.AudioStream) -> AudioInfo:
    _first_frame(path, container, stream)
    context = stream.codec_context
    layout = context.layout
    return AudioInfo(
        index=stream.index,
        codec=_codec_name(stream),
        channels=layout.nb_channels,
        layout=layout.name,
        sample_rate=context.sample_rate,
    )


def _check_data_reaches_end(path: Path, container: InputContainer, duration: float) -> None:
    """A truncated upload whose header promises more than its data holds fails here.

    Seek near the end and demux (no decoding) until a packet of the main stream reaches the
    last two seconds; without an index the seek lands earlier and this reads more, but
    demuxing is I/O-bound and cheap next to the transcode that follows.
    """
    if duration < 3:
        return
    stream = container.streams.video[0] if container.streams.video else container.streams.audio[0]
    start = (container.start_time or 0) / av.time_base
    goal = start + duration - 2.0
    with contextlib.suppress(av.error.FFmpegError):
        container.seek(int((start + duration - 2.5) * av.time_base), backward=True)
        for packet in container.demux(stream):
            pts, time_base = packet.pts, packet.time_base
            if pts is not None and time_base is not None and pts * time_base >= goal:
                return
    raise InvalidMediaError(f"{path.name}: truncated (the data ends before its duration)")
