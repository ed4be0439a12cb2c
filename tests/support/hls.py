"""An independent HLS client for the tests: PyAV (libavformat/libavcodec in-process), reading
the playlists we wrote and decoding every fMP4 segment on its own (init + segment)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av

from transcoder import read_media_playlist


@dataclass(frozen=True)
class DecodedSegment:
    uri: str
    listed_duration: float
    start: float  # presentation time of the first frame
    end: float  # presentation time just after the last frame
    frames: int
    starts_with_keyframe: bool
    width: int
    height: int
    keyframe_times: tuple[float, ...]
    pixel_format: str


def decode_variant(playlist_path: Path) -> list[DecodedSegment]:
    """Decode every segment of a media playlist, each independently of the others."""
    playlist = read_media_playlist(playlist_path)
    assert playlist.init_uri is not None
    init = (playlist_path.parent / playlist.init_uri).read_bytes()
    return [
        decode_segment(init + (playlist_path.parent / s.uri).read_bytes(), s.uri, s.duration)
        for s in playlist.segments
    ]


def decode_segment(data: bytes, uri: str, listed: float) -> DecodedSegment:
    with av.open(io.BytesIO(data), format="mp4") as container:
        stream = container.streams[0]
        times: list[float] = []
        keyframes: list[float] = []
        first_key = False
        width = height = 0
        pixel_format = ""
        last_duration = 0.0
        for frame in container.decode(stream):
            if not times:
                first_key = bool(getattr(frame, "key_frame", True))
            assert frame.time is not None
            times.append(frame.time)
            if isinstance(frame, av.VideoFrame) and frame.key_frame:
                keyframes.append(frame.time)
            if isinstance(frame, av.VideoFrame):
                width, height = frame.width, frame.height
                pixel_format = frame.format.name
                last_duration = float(frame.duration * frame.time_base) if frame.duration else 0.0
            elif isinstance(frame, av.AudioFrame):
                last_duration = frame.samples / frame.sample_rate
    assert times, f"{uri}: no frame decoded"
    return DecodedSegment(
        uri,
        listed,
        min(times),
        max(times) + last_duration,
        len(times),
        first_key,
        width,
        height,
        tuple(keyframes),
        pixel_format,
    )
