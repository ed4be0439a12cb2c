"""Small generated clips (session-scoped, made once) and their transcoded ladders: fixtures
for the transcoder's tests and the media CLI's (a pytest plugin, loaded by tests/conftest.py).

Every clip is a few seconds of lavfi material from ``samples.media``; the ladders use the
ultrafast preset because these tests pin behaviour, not picture quality.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from samples import media
from transcoder import TranscodeResult, transcode

ClipMaker = Callable[[Path], Path]

CLIPS: dict[str, ClipMaker] = {
    "lecture_1080p.mp4": lambda path: media.lecture_clip(path, seconds=9),
    "lecture_4k.mp4": lambda path: media.lecture_clip(
        path, seconds=2, width=3840, height=2160, crf=45
    ),
    "lecture_720p60.mp4": lambda path: media.lecture_clip(
        path, seconds=3, width=1280, height=720, fps=60
    ),
    "small_240p.mp4": lambda path: media.lecture_clip(path, seconds=2, width=426, height=240),
    "portrait_phone.mp4": lambda path: media.portrait_phone_clip(path, seconds=4),
    "hevc_10bit.mkv": lambda path: media.hevc_10bit_mkv_clip(path, seconds=3),
    "no_audio.mp4": lambda path: media.lecture_clip(
        path, seconds=3, width=1280, height=720, audio=False
    ),
    "audio_only.mp3": lambda path: media.audio_only_clip(path, seconds=5),
    "audio_only.m4a": lambda path: media.audio_only_clip(path, seconds=5),
    "surround_51.mp4": lambda path: media.surround_clip(path, seconds=3),
    "variable_frame_rate.mp4": lambda path: media.variable_frame_rate_clip(path, seconds=5),
}


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``clip("lecture_1080p.mp4")``: the path of that clip, generated on first use."""
    directory = tmp_path_factory.mktemp("clips")

    def get(name: str) -> Path:
        path = directory / name
        if not path.exists():
            CLIPS[name](path)
        return path

    return get


@pytest.fixture(scope="session")
def ladder_of(
    clip: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], TranscodeResult]:
    """``ladder_of("lecture_1080p.mp4")``: that clip transcoded once (ultrafast) per session."""
    directory = tmp_path_factory.mktemp("ladders")
    results: dict[str, TranscodeResult] = {}

    def get(name: str) -> TranscodeResult:
        if name not in results:
            results[name] = transcode(clip(name), directory / name, preset="ultrafast")
        return results[name]

    return get


@pytest.fixture(scope="session")
def bad_inputs(
    clip: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Files that look like uploads but are not usable media."""
    directory = tmp_path_factory.mktemp("bad")
    empty = directory / "empty.mp4"
    empty.write_bytes(b"")
    text = directory / "notes.mp4"
    text.write_text("These are my lecture notes, not a video.\n" * 20, encoding="utf-8")
    truncated = directory / "truncated.mp4"
    whole = clip("lecture_1080p.mp4").read_bytes()
    truncated.write_bytes(whole[: len(whole) // 3])  # the moov atom (at the end) is lost
    subtitles_only = directory / "subtitles_only.mkv"
    _subtitles_only(subtitles_only)
    return {
        "empty": empty,
        "text": text,
        "truncated": truncated,
        "subtitles_only": subtitles_only,
    }


def _subtitles_only(path: Path) -> None:
    """A valid Matroska file whose only stream is subtitles: no usable stream."""
    import subprocess

    from transcoder import ffmpeg_executable

    srt = path.with_suffix(".srt")
    srt.write_text("1\n00:00:00,000 --> 00:00:02,000\nHello\n", encoding="utf-8")
    subprocess.run(
        [ffmpeg_executable(), "-v", "error", "-i", str(srt), "-c:s", "srt", str(path)],
        check=True,
        timeout=60,
    )
