"""Probe results built by hand, for the tests of ladder planning and command building."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from transcoder import AudioInfo, MediaInfo, StreamInfo, VideoInfo

MONO = AudioInfo(index=1, codec="aac", channels=1, layout="mono", sample_rate=48000)


def source(
    width: int = 1920,
    height: int = 1080,
    *,
    rate: Fraction = Fraction(30),
    audio: AudioInfo | None = MONO,
    rotation: int = 0,
    duration: float = 600.0,
) -> MediaInfo:
    display = (height, width) if rotation in (90, 270) else (width, height)
    video = VideoInfo(0, "h264", width, height, rotation, *display, rate, rate, False, "yuv420p")
    streams = (StreamInfo(0, "video", "h264"),) + (
        (StreamInfo(1, "audio", "aac"),) if audio else ()
    )
    return MediaInfo(Path("/in.mp4"), "mp4", duration, 1, streams, video, audio)


def audio_only() -> MediaInfo:
    audio = AudioInfo(0, "mp3", 2, "stereo", 44100)
    return MediaInfo(Path("/in.mp3"), "mp3", 60.0, 1, (StreamInfo(0, "audio", "mp3"),), None, audio)
