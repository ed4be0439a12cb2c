from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from transcoder import InvalidMediaError, ProbeError, TranscoderError, probe

pytestmark = pytest.mark.slow


def test_probe_reads_duration_size_rate_and_audio_of_a_1080p_lecture(
    clip: Callable[[str], Path],
) -> None:
    media = probe(clip("lecture_1080p.mp4"))
    assert media.duration == pytest.approx(9, abs=0.1)
    assert [s.kind for s in media.streams] == ["video", "audio"]
    assert media.video is not None
    assert media.audio is not None
    assert (media.video.display_width, media.video.display_height) == (1920, 1080)
    assert media.video.frame_rate == 30
    assert not media.video.variable_frame_rate
    assert media.video.pixel_format == "yuv420p"
    assert (media.audio.channels, media.audio.layout) == (1, "mono")


def test_probe_applies_rotation_to_the_display_size_of_a_phone_video(
    clip: Callable[[str], Path],
) -> None:
    video = probe(clip("portrait_phone.mp4")).video
    assert video is not None
    assert (video.coded_width, video.coded_height) == (1280, 720)
    assert video.rotation in (90, 270)
    assert (video.display_width, video.display_height) == (720, 1280)
    assert video.is_portrait


def test_probe_reports_10_bit_pixel_format_of_hevc_in_matroska(
    clip: Callable[[str], Path],
) -> None:
    media = probe(clip("hevc_10bit.mkv"))
    assert media.video is not None
    assert media.video.codec == "hevc"
    assert media.video.pixel_format == "yuv420p10le"
    assert media.audio is not None
    assert media.audio.channels == 2


def test_probe_detects_variable_frame_rate(clip: Callable[[str], Path]) -> None:
    video = probe(clip("variable_frame_rate.mp4")).video
    assert video is not None
    assert video.variable_frame_rate
    assert video.frame_rate == 30
    assert Fraction(15) < video.average_frame_rate < Fraction(30)


def test_probe_reports_5_1_audio_layout(clip: Callable[[str], Path]) -> None:
    audio = probe(clip("surround_51.mp4")).audio
    assert audio is not None
    assert (audio.channels, audio.layout) == (6, "5.1")


@pytest.mark.parametrize("name", ["audio_only.mp3", "audio_only.m4a"])
def test_probe_finds_no_video_in_audio_only_files(clip: Callable[[str], Path], name: str) -> None:
    media = probe(clip(name))
    assert media.video is None
    assert media.audio is not None
    assert media.duration == pytest.approx(5, abs=0.2)


def test_probe_finds_no_audio_in_a_silent_video(clip: Callable[[str], Path]) -> None:
    media = probe(clip("no_audio.mp4"))
    assert media.audio is None
    assert media.video is not None


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", "the file is empty"),
        ("text", "not a media file"),
        ("truncated", "not a media file, or truncated"),
        ("subtitles_only", "no audio or video stream"),
    ],
)
def test_probe_refuses_bad_input_with_one_line_message(
    bad_inputs: dict[str, Path], kind: str, message: str
) -> None:
    with pytest.raises(InvalidMediaError) as raised:
        probe(bad_inputs[kind])
    text = str(raised.value)
    assert message in text
    assert "\n" not in text
    assert text.startswith(bad_inputs[kind].name)
    assert isinstance(raised.value, TranscoderError)


def test_probe_of_missing_file_raises_probe_error(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="cannot read the file"):
        probe(tmp_path / "missing.mp4")


def test_probe_refuses_a_stream_truncated_after_its_header(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    """Matroska keeps its header in front: cut the data and the header still promises 3 s."""
    whole = clip("hevc_10bit.mkv").read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole[: len(whole) // 4])
    with pytest.raises(InvalidMediaError, match="truncated"):
        probe(cut)
