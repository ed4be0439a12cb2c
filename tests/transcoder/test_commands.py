"""Golden argument lists: the command builder is pure, so its output is pinned exactly.

A change here changes what every transcode does: update the goldens deliberately.
"""

from __future__ import annotations

import dataclasses

from tests.transcoder.test_ladder import audio_only, source
from transcoder import build_ladder_command, build_single_rung_commands, plan_ladder

GOLDEN_720P_SOURCE_SCALING = [
    "ffmpeg",
    "-hide_banner",
    "-nostdin",
    "-y",
    "-loglevel",
    "warning",
    "-nostats",
    "-progress",
    "pipe:1",
    "-i",
    "file:/in.mp4",
    "-filter_complex",
    (
        "[0:0]split=4[s0][s1][s2][s3];"
        "[s0]fps=fps=30[s4];"
        "[s4]scale=640:360:flags=bicubic[s5];"
        "[s5]setsar=1[s6];"
        "[s6]format=yuv420p[s7];"
        "[s1]fps=fps=30[s8];"
        "[s8]scale=960:540:flags=bicubic[s9];"
        "[s9]setsar=1[s10];"
        "[s10]format=yuv420p[s11];"
        "[s2]fps=fps=30[s12];"
        "[s12]scale=1280:720:flags=bicubic[s13];"
        "[s13]setsar=1[s14];"
        "[s14]format=yuv420p[s15];"
        "[s3]split=2[s16][s17];"
        "[s16]trim=start=10.0[s18];"
        "[s18]scale=1280:720[s19];"
        "[s19]setsar=1[s20];"
        "[s17]fps=fps=1/2[s21];"
        "[s21]scale=160:90[s22];"
        "[s22]setsar=1[s23];"
        "[s23]tile=10x10[s24]"
    ),
    "-map",
    "[s7]",
    "-f",
    "hls",
    "-bufsize",
    "800k",
    "-c:v",
    "libx264",
    "-crf",
    "24",
    "-force_key_frames",
    "expr:gte(t,n_forced*2)",
    "-g",
    "60",
    "-hls_flags",
    "independent_segments",
    "-hls_fmp4_init_filename",
    "init.mp4",
    "-hls_playlist_type",
    "vod",
    "-hls_segment_filename",
    "360p/seg-%05d.m4s",
    "-hls_segment_type",
    "fmp4",
    "-hls_time",
    "4",
    "-keyint_min",
    "60",
    "-maxrate",
    "400k",
    "-preset",
    "veryfast",
    "-profile:v",
    "high",
    "-sc_threshold",
    "0",
    "360p/index.m3u8",
    "-map",
    "[s11]",
    "-f",
    "hls",
    "-bufsize",
    "1800k",
    "-c:v",
    "libx264",
    "-crf",
    "23",
    "-force_key_frames",
    "expr:gte(t,n_forced*2)",
    "-g",
    "60",
    "-hls_flags",
    "independent_segments",
    "-hls_fmp4_init_filename",
    "init.mp4",
    "-hls_playlist_type",
    "vod",
    "-hls_segment_filename",
    "540p/seg-%05d.m4s",
    "-hls_segment_type",
    "fmp4",
    "-hls_time",
    "4",
    "-keyint_min",
    "60",
    "-maxrate",
    "900k",
    "-preset",
    "veryfast",
    "-profile:v",
    "high",
    "-sc_threshold",
    "0",
    "540p/index.m3u8",
    "-map",
    "[s15]",
    "-f",
    "hls",
    "-bufsize",
    "3200k",
    "-c:v",
    "libx264",
    "-crf",
    "23",
    "-force_key_frames",
    "expr:gte(t,n_forced*2)",
    "-g",
    "60",
    "-hls_flags",
    "independent_segments",
    "-hls_fmp4_init_filename",
    "init.mp4",
    "-hls_playlist_type",
    "vod",
    "-hls_segment_filename",
    "720p/seg-%05d.m4s",
    "-hls_segment_type",
    "fmp4",
    "-hls_time",
    "4",
    "-keyint_min",
    "60",
    "-maxrate",
    "1600k",
    "-preset",
    "veryfast",
    "-profile:v",
    "high",
    "-sc_threshold",
    "0",
    "720p/index.m3u8",
    "-map",
    "[s20]",
    "-frames:v",
    "1",
    "-q:v",
    "3",
    "-update",
    "1",
    "poster.jpg",
    "-map",
    "[s24]",
    "-q:v",
    "5",
    "sprite-%03d.jpg",
    "-map",
    "0:1",
    "-f",
    "hls",
    "-ac",
    "1",
    "-ar",
    "48000",
    "-b:a",
    "64k",
    "-c:a",
    "aac",
    "-hls_flags",
    "independent_segments",
    "-hls_fmp4_init_filename",
    "init.mp4",
    "-hls_playlist_type",
    "vod",
    "-hls_segment_filename",
    "audio/seg-%05d.m4s",
    "-hls_segment_type",
    "fmp4",
    "-hls_time",
    "4",
    "audio/index.m3u8",
]

GOLDEN_540P_CASCADE_NO_AUDIO = [
    "ffmpeg",
    "-hide_banner",
    "-nostdin",
    "-y",
    "-loglevel",
    "warning",
    "-nostats",
    "-progress",
    "pipe:1",
    "-i",
    "file:/in.mp4",
    "-filter_complex",
    (
        "[0:0]fps=fps=30[s0];"
        "[s0]scale=960:540:flags=bicubic[s1];"
        "[s1]setsar=1[s2];"
        "[s2]format=yuv420p[s3];"
        "[s3]split=2[s4][s5];"
        "[s5]scale=640:360:flags=bicubic[s6];"
        "[s6]setsar=1[s7];"
        "[s7]format=yuv420p[s8]"
    ),
    "-map",
    "[s8]",
    "-f",
    "hls",
    "-bufsize",
    "800k",
    "-c:v",
    "libx264",
    "-crf",
    "24",
    "-force_key_frames",
    "expr:gte(t,n_forced*2)",
    "-g",
    "60",
    "-hls_flags",
    "independent_segments",
    "-hls_fmp4_init_filename",
    "init.mp4",
    "-hls_playlist_type",
    "vod",
    "-hls_segment_filename",
    "360p/seg-%05d.m4s",
    "-hls_segment_type",
    "fmp4",
    "-hls_time",
    "4",
    "-keyint_min",
    "60",
    "-maxrate",
    "400k",
    "-preset",
    "veryfast",
    "-profile:v",
    "high",
    "-sc_threshold",
    "0",
    "360p/index.m3u8",
    "-map",
    "[s4]",
    "-f",
    "hls",
    "-bufsize",
    "1800k",
    "-c:v",
    "libx264",
    "-crf",
    "23",
    "-force_key_frames",
    "expr:gte(t,n_forced*2)",
    "-g",
    "60",
    "-hls_flags",
    "independent_segments",
    "-hls_fmp4_init_filename",
    "init.mp4",
    "-hls_playlist_type",
    "vod",
    "-hls_segment_filename",
    "540p/seg-%05d.m4s",
    "-hls_segment_type",
    "fmp4",
    "-hls_time",
    "4",
    "-keyint_min",
    "60",
    "-maxrate",
    "900k",
    "-preset",
    "veryfast",
    "-profile:v",
    "high",
    "-sc_threshold",
    "0",
    "540p/index.m3u8",
]

GOLDEN_AUDIO_ONLY = [
    "ffmpeg",
    "-hide_banner",
    "-nostdin",
    "-y",
    "-loglevel",
    "warning",
    "-nostats",
    "-progress",
    "pipe:1",
    "-i",
    "file:/in.mp3",
    "-filter_complex",
    (
        "[0:0]asplit=2[s0][s1];"
        "[s1]aformat=channel_layouts=mono:sample_fmts=s16:sample_rates=8000[s2];"
        "[s2]showwavespic=colors=0x2a6fb0:s=1280x720[s3]"
    ),
    "-map",
    "[s3]",
    "-frames:v",
    "1",
    "-q:v",
    "3",
    "-update",
    "1",
    "poster.jpg",
    "-map",
    "[s0]",
    "-f",
    "hls",
    "-ac",
    "1",
    "-ar",
    "48000",
    "-b:a",
    "64k",
    "-c:a",
    "aac",
    "-hls_flags",
    "independent_segments",
    "-hls_fmp4_init_filename",
    "init.mp4",
    "-hls_playlist_type",
    "vod",
    "-hls_segment_filename",
    "audio/seg-%05d.m4s",
    "-hls_segment_type",
    "fmp4",
    "-hls_time",
    "4",
    "audio/index.m3u8",
]


def test_command_for_720p_lecture_splits_once_and_encodes_three_rungs_audio_and_thumbnails() -> (
    None
):
    ladder = plan_ladder(source(1280, 720, duration=120.0))
    assert build_ladder_command(ladder, "file:/in.mp4") == GOLDEN_720P_SOURCE_SCALING


def test_command_for_cascade_scales_each_rung_from_the_next_larger() -> None:
    ladder = plan_ladder(
        source(1920, 1080, audio=None, duration=30.0), scaling="cascade", max_height=540
    )
    ladder = dataclasses.replace(ladder, thumbnails=None)
    assert build_ladder_command(ladder, "file:/in.mp4") == GOLDEN_540P_CASCADE_NO_AUDIO


def test_command_for_audio_only_source_makes_audio_rendition_and_waveform_poster() -> None:
    assert build_ladder_command(plan_ladder(audio_only()), "file:/in.mp3") == GOLDEN_AUDIO_ONLY


def test_command_uses_the_given_ffmpeg_and_preset_and_can_omit_progress() -> None:
    ladder = plan_ladder(source(1280, 720))
    command = build_ladder_command(
        ladder, "file:/in.mp4", preset="ultrafast", ffmpeg_exe="/opt/ffmpeg", progress=False
    )
    assert command[0] == "/opt/ffmpeg"
    assert "-progress" not in command
    assert command.count("ultrafast") == len(ladder.video)


def test_single_rung_commands_decode_the_source_once_per_rung() -> None:
    ladder = plan_ladder(source(1280, 720))
    commands = build_single_rung_commands(ladder, "file:/in.mp4")
    assert len(commands) == len(ladder.video) + 1  # + the audio
    for command, rung in zip(commands, ladder.video, strict=False):
        assert command.count("-i") == 1
        assert [a for a in command if a.endswith("index.m3u8")] == [f"{rung.name}/index.m3u8"]
    assert commands[-1][-1] == "audio/index.m3u8"
