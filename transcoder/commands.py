"""Build ffmpeg command lines from a planned ladder. Pure: nothing here touches the disk.

Output paths are relative: the runner starts ffmpeg in the (temporary) output directory, so a
command does not depend on where it is written and the golden tests can pin it exactly.

Layout of the output directory::

    master.m3u8                      written afterwards by ``playlists.write_master_playlist``
    360p/index.m3u8 init.mp4 seg-00000.m4s ...   one directory per video rung
    audio/index.m3u8 init.mp4 seg-00000.m4s ...
    poster.jpg  sprite-001.jpg ...   (thumbnails.vtt is written afterwards)

HLS segments are fragmented MP4 (CMAF): one init segment plus moof/mdat fragments, no MPEG-TS
packet overhead (which is 5-10 % at the 360p bitrate a 0.5 Mbit/s link can carry), and the same
files can be served as DASH later. Every browser player (hls.js, Safari, ExoPlayer) plays it.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Any

import ffmpeg

from transcoder.ladder import AudioRung, Ladder, ThumbnailPlan, VideoRung

__all__ = [
    "build_ladder_command",
    "build_single_rung_commands",
    "variant_playlist",
]

_SINGLE_IMAGE = {"frames:v": 1, "update": 1, "q:v": 3}
_GLOBAL_ARGS = ["-hide_banner", "-nostdin", "-y", "-loglevel", "warning", "-nostats"]


def variant_playlist(name: str) -> str:
    """The path (relative to the output directory) of a rung's media playlist."""
    return f"{name}/index.m3u8"


def build_ladder_command(
    ladder: Ladder,
    source: str,
    *,
    preset: str = "veryfast",
    ffmpeg_exe: str = "ffmpeg",
    progress: bool = True,
) -> list[str]:
    """One ffmpeg that decodes ``source`` once and writes every rung, the audio and thumbnails.

    The decoded frames are ``split`` between the rungs: scaled from the source, or in a
    cascade (each rung scaled from the next larger one) when ``ladder.scaling == "cascade"``.
    """
    source_input = ffmpeg.input(source)
    outputs: list[Any] = []
    audio_branches: list[Any] = []
    if ladder.audio is not None:
        audio = source_input[str(ladder.audio_stream or 0)]
        waveform = ladder.thumbnails is not None and ladder.thumbnails.waveform
        # One branch per video rung (muxed with its picture), one for the audio-only
        # rendition, one for the waveform poster of an audio-only source.
        count = len(ladder.video) + 1 + (1 if waveform else 0)
        split = audio.filter_multi_output("asplit") if count > 1 else None
        audio_branches = [split.stream(i) if split else audio for i in range(count)]
        if waveform and ladder.thumbnails is not None:
            outputs.append(_waveform_output(ladder.thumbnails, audio_branches.pop()))
    if ladder.video:
        video_streams, thumbnail_source = _video_graph(
            ladder, source_input[str(ladder.video_stream or 0)]
        )
        outputs += [
            _video_output(
                rung, stream, ladder, preset, audio_branches[i] if audio_branches else None
            )
            for i, (rung, stream) in enumerate(zip(ladder.video, video_streams, strict=True))
        ]
        if thumbnail_source is not None and ladder.thumbnails is not None:
            outputs += _thumbnail_outputs(ladder.thumbnails, thumbnail_source)
    if ladder.audio is not None:
        outputs.append(_audio_output(ladder.audio, audio_branches[-1], ladder))
    args: list[str] = ffmpeg.merge_outputs(*outputs).get_args()
    progress_args = ["-progress", "pipe:1"] if progress else []
    return [ffmpeg_exe, *_GLOBAL_ARGS, *progress_args, *args]


def build_remux_command(
    playlist: str, output: str, *, audio_playlist: str | None = None, ffmpeg_exe: str = "ffmpeg"
) -> list[str]:
    """One rendition's HLS segments copied (no re-encode) into a single MP4 that starts
    playing before it has fully arrived (``+faststart``): the offline download. A video
    rendition carries no sound of its own (the ladder's audio is a rendition apart), so the
    audio rendition's ``audio_playlist`` is muxed in beside it."""
    video = ffmpeg.input(playlist)
    streams = [video.video, ffmpeg.input(audio_playlist).audio] if audio_playlist else [video]
    args: list[str] = ffmpeg.output(*streams, output, c="copy", movflags="+faststart").get_args()
    return [ffmpeg_exe, *_GLOBAL_ARGS, "-progress", "pipe:1", *args]


def build_single_rung_commands(
    ladder: Ladder, source: str, *, preset: str = "veryfast", ffmpeg_exe: str = "ffmpeg"
) -> list[list[str]]:
    """The same renditions made the way many platforms do: one ffmpeg (one decode) per rung.

    Used by the benchmark as the baseline; the outputs are identical in layout.
    """
    alone = dataclasses.replace(ladder, audio=None, thumbnails=None, scaling="source")
    commands = [
        build_ladder_command(
            dataclasses.replace(alone, video=(rung,)), source, preset=preset, ffmpeg_exe=ffmpeg_exe
        )
        for rung in ladder.video
    ]
    if ladder.audio is not None:
        audio_only = dataclasses.replace(ladder, video=(), thumbnails=None)
        commands.append(
            build_ladder_command(audio_only, source, preset=preset, ffmpeg_exe=ffmpeg_exe)
        )
    return commands


def _scale(stream: Any, rung: VideoRung, source_rate: Fraction | None) -> Any:
    # Dropping frames before scaling saves the scaler work; fps also makes the output constant
    # rate, which a variable-frame-rate phone video needs for aligned keyframes.
    if source_rate != rung.frame_rate:
        stream = stream.filter("fps", fps=_rate(rung.frame_rate))
    return (
        stream.filter("scale", rung.width, rung.height, flags="bicubic")
        .filter("setsar", "1")
        .filter("format", "yuv420p")
    )


def _video_graph(ladder: Ladder, source: Any) -> tuple[list[Any], Any | None]:
    """Return one filtered stream per rung (in ``ladder.video`` order) and one for thumbnails."""
    encodes_from_source = len(ladder.video) if ladder.scaling == "source" else 1
    branches = encodes_from_source + (1 if ladder.thumbnails is not None else 0)
    split = source.filter_multi_output("split") if branches > 1 else None
    thumbnail_source = split.stream(encodes_from_source) if split and ladder.thumbnails else None
    if ladder.scaling == "source":
        streams = [
            _scale(split.stream(i) if split else source, rung, None)
            for i, rung in enumerate(ladder.video)
        ]
        return streams, thumbnail_source
    # Cascade: the largest rung from the source, then each from the one above it.
    previous: Any = split.stream(0) if split else source
    previous_rate: Fraction | None = None
    cascade: list[Any] = []
    for position, rung in enumerate(reversed(ladder.video)):
        scaled = _scale(previous, rung, previous_rate)
        if position == len(ladder.video) - 1:
            cascade.append(scaled)
            break
        scaled_split = scaled.filter_multi_output("split")
        cascade.append(scaled_split.stream(0))
        previous, previous_rate = scaled_split.stream(1), rung.frame_rate
    return list(reversed(cascade)), thumbnail_source


def _rate(rate: Fraction) -> str:
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


def _hls_args(name: str, ladder: Ladder) -> dict[str, Any]:
    return {
        "format": "hls",
        "hls_time": ladder.segment_seconds,
        "hls_playlist_type": "vod",
        "hls_segment_type": "fmp4",
        "hls_fmp4_init_filename": "init.mp4",
        "hls_segment_filename": f"{name}/seg-%05d.m4s",
        "hls_flags": "independent_segments",
    }


def _video_output(
    rung: VideoRung, stream: Any, ladder: Ladder, preset: str, audio: Any | None = None
) -> Any:
    """A video rung, its sound muxed in (``audio``): one request per segment for the player,
    which matters on a village link's long round trip, and hls.js's light build plays it."""
    gop_frames = math.ceil(ladder.gop_seconds * rung.frame_rate)
    encoder = {
        "c:v": "libx264",
        "preset": preset,
        "profile:v": "high",
        "crf": rung.crf,
        "maxrate": f"{rung.maxrate_kbps}k",
        "bufsize": f"{rung.bufsize_kbps}k",
        # Keyframes every GOP on the clock, never on scene cuts, identical in every rung.
        "g": gop_frames,
        "keyint_min": gop_frames,
        "sc_threshold": 0,
        "force_key_frames": f"expr:gte(t,n_forced*{ladder.gop_seconds})",
    }
    streams = [stream]
    if audio is not None and ladder.audio is not None:
        streams.append(audio)
        encoder |= _audio_encoder(ladder.audio)
    return ffmpeg.output(
        *streams, variant_playlist(rung.name), **encoder, **_hls_args(rung.name, ladder)
    )


def _audio_encoder(rung: AudioRung) -> dict[str, Any]:
    return {
        "c:a": rung.codec,
        "b:a": f"{rung.bitrate_kbps}k",
        "ac": rung.channels,  # 5.1 and stereo are downmixed: lectures are speech
        "ar": rung.sample_rate,
    }


def _audio_output(rung: AudioRung, stream: Any, ladder: Ladder) -> Any:
    return ffmpeg.output(
        stream, variant_playlist(rung.name), **_audio_encoder(rung), **_hls_args(rung.name, ladder)
    )


def _thumbnail_outputs(plan: ThumbnailPlan, stream: Any) -> list[Any]:
    split = stream.filter_multi_output("split")
    poster = (
        split.stream(0)
        .filter("trim", start=plan.poster_time)
        .filter("scale", plan.poster_width, plan.poster_height)
        .filter("setsar", "1")
    )
    sprite = (
        split.stream(1)
        .filter("fps", fps=f"1/{plan.interval}")
        .filter("scale", plan.tile_width, plan.tile_height)
        .filter("setsar", "1")
        .filter("tile", f"{plan.columns}x{plan.rows}")
    )
    return [
        ffmpeg.output(poster, "poster.jpg", **_SINGLE_IMAGE),
        ffmpeg.output(sprite, "sprite-%03d.jpg", **{"q:v": 5}),
    ]


def _waveform_output(plan: ThumbnailPlan, stream: Any) -> Any:
    # showwavespic keeps every sample until the end: 8 kHz mono s16 keeps an hour in ~60 MB.
    picture = stream.filter(
        "aformat", sample_fmts="s16", sample_rates=8000, channel_layouts="mono"
    ).filter("showwavespic", s=f"{plan.poster_width}x{plan.poster_height}", colors="0x2a6fb0")
    return ffmpeg.output(picture, "poster.jpg", **_SINGLE_IMAGE)
