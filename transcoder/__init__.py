"""Clinicast's FFmpeg library: probe a source, plan its HLS ladder, transcode it in one pass.

A leaf library: it imports nothing of the project. Typical use::

    from transcoder import transcode
    result = transcode("lecture.mp4", "out/lecture-42", on_progress=print)
    result.master_playlist  # out/lecture-42/master.m3u8

or step by step: ``probe`` -> ``plan_ladder`` -> ``build_ladder_command`` -> ``run_ffmpeg`` ->
``write_master_playlist``. The exception tree is drawn in ``transcoder.errors``.
"""

from transcoder.commands import (
    build_ladder_command,
    build_remux_command,
    build_single_rung_commands,
)
from transcoder.errors import (
    InvalidMediaError,
    PlanError,
    ProbeError,
    TranscodeCancelledError,
    TranscodeError,
    TranscoderError,
    TranscodeTimeoutError,
)
from transcoder.ladder import AudioRung, Ladder, Scaling, ThumbnailPlan, VideoRung, plan_ladder
from transcoder.playlists import (
    MediaPlaylist,
    Variant,
    extinf_duration,
    read_media_playlist,
    render_master_playlist,
    write_master_playlist,
)
from transcoder.probe import AudioInfo, MediaInfo, StreamInfo, VideoInfo, probe
from transcoder.runner import Progress, run_ffmpeg
from transcoder.thumbnails import render_thumbnail_track, write_thumbnail_track
from transcoder.vod import (
    TranscodeResult,
    ffmpeg_executable,
    planned_pixels,
    time_limit_for,
    transcode,
)

__all__ = [
    "AudioInfo",
    "AudioRung",
    "InvalidMediaError",
    "Ladder",
    "MediaInfo",
    "MediaPlaylist",
    "PlanError",
    "ProbeError",
    "Progress",
    "Scaling",
    "StreamInfo",
    "ThumbnailPlan",
    "TranscodeCancelledError",
    "TranscodeError",
    "TranscodeResult",
    "TranscodeTimeoutError",
    "TranscoderError",
    "Variant",
    "VideoInfo",
    "VideoRung",
    "build_ladder_command",
    "build_remux_command",
    "build_single_rung_commands",
    "extinf_duration",
    "ffmpeg_executable",
    "plan_ladder",
    "planned_pixels",
    "probe",
    "read_media_playlist",
    "render_master_playlist",
    "render_thumbnail_track",
    "run_ffmpeg",
    "time_limit_for",
    "transcode",
    "write_master_playlist",
    "write_thumbnail_track",
]
