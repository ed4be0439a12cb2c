"""The offline download: one rendition's segments copied into a single MP4 (no re-encode)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from transcoder import TranscodeResult, build_remux_command, ffmpeg_executable, run_ffmpeg


def test_remux_command_copies_video_and_audio_renditions_and_puts_the_index_first() -> None:
    command = build_remux_command(
        "360p/index.m3u8", "download-360p.mp4", audio_playlist="audio/index.m3u8",
        ffmpeg_exe="ffmpeg",
    )  # fmt: skip
    assert command == [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "warning", "-nostats",
        "-progress", "pipe:1", "-i", "360p/index.m3u8", "-i", "audio/index.m3u8",
        "-map", "0:v", "-map", "1:a", "-c", "copy", "-movflags", "+faststart",
        "download-360p.mp4",
    ]  # fmt: skip


def test_remux_command_of_an_audio_only_lecture_has_one_input() -> None:
    command = build_remux_command("audio/index.m3u8", "download-audio.mp4")
    assert command[9:] == [
        "-i", "audio/index.m3u8", "-c", "copy", "-movflags", "+faststart", "download-audio.mp4"
    ]  # fmt: skip


@pytest.mark.slow
def test_remuxed_download_plays_the_whole_rendition_with_its_sound(
    ladder_of: Callable[[str], TranscodeResult], tmp_path: Path
) -> None:
    result = ladder_of("lecture_1080p.mp4")
    folder = tmp_path / "ladder"
    shutil.copytree(result.outdir, folder)
    # The video rung carries its sound: a plain copy of one playlist.
    command = build_remux_command("360p/index.m3u8", "download.mp4", ffmpeg_exe=ffmpeg_executable())
    run_ffmpeg(command, cwd=folder, duration=result.media.duration, time_limit=120)
    with av.open(str(folder / "download.mp4")) as container:
        video = container.streams.video[0]
        assert (video.codec_context.name, video.height) == ("h264", 360)
        assert container.duration is not None
        assert container.duration / 1_000_000 == pytest.approx(result.media.duration, abs=0.5)
        assert len(container.streams.audio) == 1
    data = (folder / "download.mp4").read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: plays while downloading
