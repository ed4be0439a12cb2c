"""The ladder as data: which renditions to make from a probed source.

``plan_ladder`` is a pure function of a ``MediaInfo`` and a few options. A rung's "p" is the
short side of the picture, so a portrait phone video gets 360x640, 540x960, ... and stays
portrait. Nothing is ever upscaled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from transcoder.errors import PlanError
from transcoder.probe import MediaInfo, VideoInfo

__all__ = [
    "AudioRung",
    "Ladder",
    "Scaling",
    "ThumbnailPlan",
    "VideoRung",
    "plan_ladder",
]

Scaling = Literal["source", "cascade", "auto"]

SMALLEST_RUNG = 240
SEGMENT_SECONDS = 4  # a multiple of the GOP, so every segment starts on an aligned keyframe
GOP_SECONDS = 2


@dataclass(frozen=True)
class VideoRung:
    """One H.264 rendition: capped CRF (``crf`` bounded by ``maxrate_kbps``/``bufsize_kbps``)."""

    name: str  # "720p": the short side
    width: int
    height: int
    frame_rate: Fraction
    crf: int
    maxrate_kbps: int
    bufsize_kbps: int


@dataclass(frozen=True)
class AudioRung:
    """The one audio rendition, shared by every video variant and offered alone ("audio only")."""

    name: str = "audio"
    codec: str = "aac"
    bitrate_kbps: int = 64
    channels: int = 1
    sample_rate: int = 48000


@dataclass(frozen=True)
class ThumbnailPlan:
    """A poster frame, and for video a sprite of tiles (one every ``interval`` seconds)."""

    poster_time: float
    poster_width: int
    poster_height: int
    interval: int = 10
    tile_width: int = 160
    tile_height: int = 90
    columns: int = 10
    rows: int = 10
    waveform: bool = False  # audio-only source: the poster is a picture of the waveform


@dataclass(frozen=True)
class Ladder:
    """Everything the command builder needs. ``video`` is ordered from the smallest rung up."""

    duration: float
    video: tuple[VideoRung, ...]
    audio: AudioRung | None
    thumbnails: ThumbnailPlan | None
    scaling: Literal["source", "cascade"] = "source"
    video_stream: int | None = None  # stream indexes in the source
    audio_stream: int | None = None
    segment_seconds: int = SEGMENT_SECONDS
    gop_seconds: int = GOP_SECONDS


# short side -> (crf, maxrate kbit/s at <= 30 fps); bufsize is twice maxrate. The 240p rung
# (at 15 fps) plus the audio fits a 0.5 Mbit/s village link with room to spare, the 360p rung
# a steady one; below that, the audio-only rendition.
_RUNGS: dict[int, tuple[int, int]] = {
    240: (26, 180),
    360: (24, 400),
    540: (23, 900),
    720: (23, 1600),
    1080: (23, 3000),
    2160: (23, 10000),
}


def plan_ladder(
    media: MediaInfo,
    *,
    max_height: int | None = None,
    scaling: Scaling = "auto",
    thumbnail_interval: int | None = None,
) -> Ladder:
    """Plan the renditions for ``media``.

    ``max_height`` caps the rungs' short side ("p"); ``scaling`` chooses whether every rung is
    scaled from the source or from the next larger rung ("auto": cascade for >= 2160p only).
    """
    if max_height is not None and max_height < SMALLEST_RUNG:
        raise PlanError(f"max height {max_height} is below the smallest rung ({SMALLEST_RUNG})")
    audio = AudioRung() if media.audio is not None else None
    if media.video is None:
        poster = ThumbnailPlan(poster_time=0.0, poster_width=1280, poster_height=720, waveform=True)
        return Ladder(media.duration, (), audio, poster, audio_stream=_index(media, "audio"))
    video = media.video
    rungs = _video_rungs(video, max_height)
    resolved: Literal["source", "cascade"] = "cascade" if scaling == "cascade" else "source"
    if scaling == "auto" and min(video.display_width, video.display_height) >= 2160:
        resolved = "cascade"
    return Ladder(
        duration=media.duration,
        video=rungs,
        audio=audio,
        thumbnails=_thumbnails(media.duration, rungs, thumbnail_interval),
        scaling=resolved if len(rungs) > 1 else "source",
        video_stream=video.index,
        audio_stream=_index(media, "audio"),
    )


def _index(media: MediaInfo, kind: str) -> int | None:
    info = media.video if kind == "video" else media.audio
    return info.index if info is not None else None


def _even(value: float) -> int:
    """The nearest even size (x264 needs even sizes for 4:2:0)."""
    return max(2, round(value / 2) * 2)


def _even_down(value: int) -> int:
    return max(2, value // 2 * 2)


def _video_rungs(video: VideoInfo, max_height: int | None) -> tuple[VideoRung, ...]:
    short = min(video.display_width, video.display_height)
    long = max(video.display_width, video.display_height)
    heights = [p for p in _RUNGS if p <= short and (max_height is None or p <= max_height)]
    if not heights:  # a source smaller than the smallest rung: one rung at its own size
        short_even = _even_down(short)
        return (_rung(video, f"{short_even}p", short_even, _even_down(long), SMALLEST_RUNG),)
    return tuple(
        _rung(video, f"{p}p", p, min(_even(p * long / short), _even_down(long)), p) for p in heights
    )


def _rung(video: VideoInfo, name: str, short: int, long: int, table_key: int) -> VideoRung:
    # The weakest links' rung moves at 15 fps: the bits go to a legible picture (slides,
    # faces), and a lecture does not need smooth motion at 240p.
    rate = _capped_rate(
        video.frame_rate, 15 if short <= SMALLEST_RUNG else 30 if short <= 720 else 60
    )
    crf, maxrate = _RUNGS[table_key]
    if rate > 30:  # 60 fps needs more bits for the same picture quality
        maxrate = maxrate * 3 // 2
    width, height = (short, long) if video.is_portrait else (long, short)
    return VideoRung(name, width, height, rate, crf, maxrate, 2 * maxrate)


def _capped_rate(rate: Fraction, cap: int) -> Fraction:
    """Halve a too-high rate while that keeps it near the cap (60 -> 30, 59.94 -> 29.97,
    50 -> 25); otherwise clamp to the cap (e.g. 40 -> 30)."""
    while rate > cap:
        rate = rate / 2 if rate / 2 >= Fraction(3, 4) * cap else Fraction(cap)
    return rate


def _thumbnails(
    duration: float, rungs: tuple[VideoRung, ...], interval: int | None
) -> ThumbnailPlan:
    # The poster is at most 720p; the sprite tiles are 160 px on the long side.
    poster = next((r for r in reversed(rungs) if min(r.width, r.height) <= 720), rungs[0])
    if interval is None:  # about 60 tiles for a short clip, one every 10 s for a lecture
        interval = min(10, max(1, math.ceil(duration / 60)))
    scale = 160 / max(poster.width, poster.height)
    return ThumbnailPlan(
        poster_time=round(min(duration * 0.1, 10.0), 3),
        poster_width=poster.width,
        poster_height=poster.height,
        interval=interval,
        tile_width=_even(poster.width * scale),
        tile_height=_even(poster.height * scale),
    )
