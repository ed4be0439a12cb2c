"""Golden argument lists: the command builder is pure, so its output is pinned exactly.

A change here changes what every transcode does: update the goldens deliberately.
"""

from __future__ import annotations

import dataclasses

from tests.support.media_info import audio_only, source
from tests.transcoder.golden_commands import (
    GOLDEN_540P_CASCADE_NO_AUDIO,
    GOLDEN_720P_SOURCE_SCALING,
    GOLDEN_AUDIO_ONLY,
)
from transcoder import build_ladder_command, build_single_rung_commands, plan_ladder


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
