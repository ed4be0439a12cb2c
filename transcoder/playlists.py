"""Measure the produced HLS variants and write the master playlist ourselves.

FFmpeg's own master playlist leaves the audio out of BANDWIDTH, has no FRAME-RATE and no
audio-only variant, so we read each media playlist and its segments back and write one that
does: BANDWIDTH is the peak segment bit rate as RFC 8216 defines it (over runs of segments
lasting 0.5 to 1.5 target durations), AVERAGE-BANDWIDTH the whole-stream average, CODECS the
real profile/level read from the init segment.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from transcoder.commands import variant_playlist
from transcoder.ladder import Ladder

__all__ = [
    "AUDIO_GROUP",
    "MediaPlaylist",
    "Segment",
    "Variant",
    "init_codec",
    "init_codecs",
    "read_media_playlist",
    "render_master_playlist",
    "write_master_playlist",
]

AUDIO_GROUP = "audio"


@dataclass(frozen=True)
class Segment:
    uri: str
    duration: float
    size_bytes: int


@dataclass(frozen=True)
class MediaPlaylist:
    """A variant's media playlist as produced, with the sizes of its segments."""

    path: Path
    target_duration: int
    init_uri: str | None
    segments: tuple[Segment, ...]

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    @property
    def average_bandwidth(self) -> int:
        total = sum(s.size_bytes for s in self.segments) * 8
        return math.ceil(total / self.duration) if self.duration else 0

    @property
    def peak_bandwidth(self) -> int:
        """The largest bit rate over any run of segments lasting 0.5 to 1.5 target durations."""
        peak = 0
        for start in range(len(self.segments)):
            bits, seconds = 0, 0.0
            for segment in self.segments[start:]:
                if seconds + segment.duration > 1.5 * self.target_duration:
                    break
                bits, seconds = bits + 8 * segment.size_bytes, seconds + segment.duration
                if seconds >= 0.5 * self.target_duration:
                    peak = max(peak, math.ceil(bits / seconds))
        return peak or self.average_bandwidth


@dataclass(frozen=True)
class Variant:
    """One ``#EXT-X-STREAM-INF`` entry of the master playlist."""

    uri: str
    bandwidth: int
    average_bandwidth: int
    codecs: tuple[str, ...]
    resolution: tuple[int, int] | None = None
    frame_rate: Fraction | None = None
    audio_group: str | None = None


def extinf_duration(line: str) -> float | None:
    """The duration of an ``#EXTINF:<seconds>,<title>`` tag, None for another line (or an
    unreadable duration)."""
    if not line.startswith("#EXTINF:"):
        return None
    try:
        return float(line.partition(":")[2].split(",", 1)[0])
    except ValueError:
        return None


def read_media_playlist(path: Path) -> MediaPlaylist:
    """Parse a VOD media playlist written by FFmpeg's HLS muxer and size its segments."""
    target, init_uri, duration = 0, None, 0.0
    segments: list[Segment] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.partition(":")[2])
        elif line.startswith("#EXT-X-MAP:"):
            init_uri = line.split('URI="', 1)[1].split('"', 1)[0]
        elif (listed := extinf_duration(line)) is not None:
            duration = listed
        elif line and not line.startswith("#"):
            segments.append(Segment(line, duration, (path.parent / line).stat().st_size))
    return MediaPlaylist(path, target, init_uri, tuple(segments))


def _init_codec(playlist: MediaPlaylist) -> tuple[tuple[str, ...], tuple[int, int] | None]:
    if playlist.init_uri is None:
        raise ValueError(f"{playlist.path}: no EXT-X-MAP (not an fMP4 playlist)")
    return init_codecs(playlist.path.parent / playlist.init_uri)


def init_codec(init_segment: Path) -> tuple[str, tuple[int, int] | None]:
    """The RFC 6381 codec string of an fMP4 init segment's first track (and its picture
    size)."""
    codecs, size = init_codecs(init_segment)
    return codecs[0], size


def init_codecs(init_segment: Path) -> tuple[tuple[str, ...], tuple[int, int] | None]:
    """Read the RFC 6381 codec strings (video first, then audio) and the picture size from an
    fMP4 init segment."""
    codecs: list[str] = []
    size: tuple[int, int] | None = None
    with av.open(str(init_segment)) as container:
        if container.streams.video:
            video = container.streams.video[0].codec_context
            # avcC: configurationVersion, then profile_idc, constraint flags, level_idc.
            profile, flags, level = (video.extradata or b"\0\0\0\0")[1:4]
            codecs.append(f"avc1.{profile:02x}{flags:02x}{level:02x}")
            size = (video.width, video.height)
        if container.streams.audio:
            extradata = container.streams.audio[0].codec_context.extradata or b""
            # AudioSpecificConfig starts with the 5-bit audio object type (2 = AAC-LC).
            object_type = extradata[0] >> 3 if extradata else 2
            codecs.append(f"mp4a.40.{object_type}")
    return tuple(codecs), size


def _variant_of(playlist: MediaPlaylist, base: Path) -> Variant:
    codecs, size = _init_codec(playlist)
    uri = playlist.path.relative_to(base).as_posix()
    return Variant(uri, playlist.peak_bandwidth, playlist.average_bandwidth, codecs, size)


def write_master_playlist(ladder: Ladder, outdir: Path) -> list[Variant]:
    """Measure the variants in ``outdir`` and write ``outdir/master.m3u8``; return its variants.

    Each video variant carries its sound (muxed by the command builder), so BANDWIDTH and
    CODECS, measured from its own segments and init segment, include the audio; the
    audio-only variant comes last (players start with the first variant, never audio only).
    """
    variants = [
        dataclasses.replace(
            _variant_of(read_media_playlist(outdir / variant_playlist(rung.name)), outdir),
            frame_rate=rung.frame_rate,
        )
        for rung in ladder.video
    ]
    if ladder.audio is not None:
        variants.append(
            _variant_of(read_media_playlist(outdir / variant_playlist(ladder.audio.name)), outdir)
        )
    channels = ladder.audio.channels if ladder.audio is not None else 0
    text = render_master_playlist(variants, None, channels)
    (outdir / "master.m3u8").write_text(text, encoding="utf-8")
    return variants


def render_master_playlist(variants: list[Variant], audio_uri: str | None, channels: int) -> str:
    """The text of a master playlist; ``audio_uri`` adds the audio rendition group."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio_uri is not None:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="Lecture audio",'
            f'DEFAULT=YES,AUTOSELECT=YES,CHANNELS="{channels}",URI="{audio_uri}"'
        )
    for variant in variants:
        attributes = [
            f"BANDWIDTH={variant.bandwidth}",
            f"AVERAGE-BANDWIDTH={variant.average_bandwidth}",
        ]
        if variant.resolution is not None:
            attributes.append(f"RESOLUTION={variant.resolution[0]}x{variant.resolution[1]}")
        if variant.frame_rate is not None:
            attributes.append(f"FRAME-RATE={float(variant.frame_rate):.3f}")
        attributes.append(f'CODECS="{",".join(variant.codecs)}"')
        if variant.audio_group is not None:
            attributes.append(f'AUDIO="{variant.audio_group}"')
        lines += [f"#EXT-X-STREAM-INF:{','.join(attributes)}", variant.uri]
    return "\n".join(lines) + "\n"
