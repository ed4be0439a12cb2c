"""Real ladders from real clips, checked by an independent client (PyAV decoding every segment)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.support.hls import decode_variant
from transcoder import TranscodeResult, read_media_playlist

pytestmark = pytest.mark.slow

Ladders = Callable[[str], TranscodeResult]
VIDEO_CLIPS = [
    "lecture_1080p.mp4",
    "lecture_720p60.mp4",
    "small_240p.mp4",
    "portrait_phone.mp4",
    "hevc_10bit.mkv",
    "no_audio.mp4",
    "surround_51.mp4",
    "variable_frame_rate.mp4",
]


def stream_inf(master: str) -> list[tuple[dict[str, str], str]]:
    """(attributes, uri) of every EXT-X-STREAM-INF of a master playlist."""
    lines = master.splitlines()
    return [
        (_attributes(line.partition(":")[2]), lines[i + 1])
        for i, line in enumerate(lines)
        if line.startswith("#EXT-X-STREAM-INF:")
    ]


def _attributes(text: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', text)}


def test_every_segment_of_every_variant_decodes_on_its_own(ladder_of: Ladders) -> None:
    result = ladder_of("lecture_1080p.mp4")
    for _, uri in stream_inf(result.master_playlist.read_text()):
        segments = decode_variant(result.outdir / uri)
        assert len(segments) >= 2
        assert all(s.starts_with_keyframe for s in segments)
        assert all(s.frames > 0 for s in segments)


def test_segment_boundaries_and_keyframes_line_up_across_rungs(ladder_of: Ladders) -> None:
    result = ladder_of("lecture_1080p.mp4")
    boundaries, keyframes = set(), set()
    for rung in result.ladder.video:
        segments = decode_variant(result.outdir / rung.name / "index.m3u8")
        boundaries.add(tuple(round(s.start, 3) for s in segments))
        keyframes.add(tuple(round(t, 3) for s in segments for t in s.keyframe_times))
        listed = read_media_playlist(result.outdir / rung.name / "index.m3u8").segments
        for segment, decoded in zip(listed, segments, strict=True):
            assert decoded.end - decoded.start == pytest.approx(segment.duration, abs=0.002)
    # The same boundaries in every rung, 4 s apart. The picture starts after the AAC
    # encoder's priming samples (1024 at 48 kHz = 21 ms) now that the sound is muxed in.
    assert len(boundaries) == 1
    assert len(keyframes) == 1, "keyframes line up across rungs"
    ((first, *rest),) = boundaries
    assert 0.0 <= first < 0.03
    assert [round(b - first, 3) for b in (first, *rest)] == [0.0, 4.0, 8.0]
    ((key, *more),) = keyframes
    assert [round(k - key, 3) for k in (key, *more)] == [0.0, 2.0, 4.0, 6.0, 8.0], (
        "a keyframe every 2 s in every rung"
    )


@pytest.mark.parametrize("name", VIDEO_CLIPS)
def test_variants_match_source_duration_and_never_exceed_its_size(
    ladder_of: Ladders, name: str
) -> None:
    result = ladder_of(name)
    video = result.media.video
    assert video is not None
    for rung in result.ladder.video:
        segments = decode_variant(result.outdir / rung.name / "index.m3u8")
        assert segments[-1].end - segments[0].start == pytest.approx(result.media.duration, abs=0.5)
        assert {(s.width, s.height) for s in segments} == {(rung.width, rung.height)}
        assert rung.width * rung.height <= video.display_width * video.display_height
        assert rung.width <= video.display_width
        assert rung.height <= video.display_height
    if result.ladder.audio is not None:
        audio = decode_variant(result.outdir / "audio" / "index.m3u8")
        assert audio[-1].end == pytest.approx(result.media.duration, abs=0.5)


def test_portrait_phone_video_stays_portrait_in_every_variant(ladder_of: Ladders) -> None:
    result = ladder_of("portrait_phone.mp4")
    assert [(r.width, r.height) for r in result.ladder.video] == [
        (240, 426),
        (360, 640),
        (540, 960),
        (720, 1280),
    ]
    for rung in result.ladder.video:
        segment = decode_variant(result.outdir / rung.name / "index.m3u8")[0]
        assert segment.height > segment.width


def test_rungs_up_to_720p_are_at_most_30_fps(ladder_of: Ladders) -> None:
    result = ladder_of("lecture_720p60.mp4")
    for attributes, uri in stream_inf(result.master_playlist.read_text()):
        if "RESOLUTION" not in attributes:
            continue
        segments = decode_variant(result.outdir / uri)
        seconds = segments[-1].end - segments[0].start
        rate = 15 if uri.startswith("240p/") else 30  # the weakest links' rung: 15 fps
        assert sum(s.frames for s in segments) / seconds <= rate + 0.5
        assert float(attributes["FRAME-RATE"]) == pytest.approx(rate)


def test_master_playlist_carries_measured_bandwidth_codecs_rate_and_muxed_audio(
    ladder_of: Ladders,
) -> None:
    result = ladder_of("lecture_1080p.mp4")
    master = result.master_playlist.read_text()
    assert "#EXT-X-MEDIA" not in master  # the sound is in every video variant
    entries = stream_inf(master)
    video = [(a, u) for a, u in entries if "RESOLUTION" in a]
    audio_only = [(a, u) for a, u in entries if "RESOLUTION" not in a]
    assert [u for _, u in video] == ["240p/index.m3u8", "360p/index.m3u8", "540p/index.m3u8",
                                     "720p/index.m3u8", "1080p/index.m3u8"]  # fmt: skip
    assert audio_only == [(audio_only[0][0], "audio/index.m3u8")]
    assert audio_only[0][0]["CODECS"] == "mp4a.40.2"
    for attributes, uri in video:
        assert re.fullmatch(r"avc1\.[0-9a-f]{6},mp4a\.40\.2", attributes["CODECS"])
        assert "AUDIO" not in attributes
        assert float(attributes["FRAME-RATE"]) == pytest.approx(
            15 if uri.startswith("240p") else 30
        )
        assert int(attributes["BANDWIDTH"]) >= int(attributes["AVERAGE-BANDWIDTH"]) > 0
        width, height = map(int, attributes["RESOLUTION"].split("x"))
        assert uri.startswith(f"{min(width, height)}p/")
        # Each video segment carries the picture and the sound, decodable on its own.
        playlist = read_media_playlist(result.outdir / uri)
        assert playlist.init_uri is not None
        data = (result.outdir / uri).parent / playlist.init_uri
        segment = (result.outdir / uri).parent / playlist.segments[0].uri
        with av.open(io.BytesIO(data.read_bytes() + segment.read_bytes()), format="mp4") as mp4:
            assert len(mp4.streams.video) == 1
            assert len(mp4.streams.audio) == 1
            assert next(mp4.decode(audio=0)).sample_rate == 48000
    bandwidths = [int(a["BANDWIDTH"]) for a, _ in video]
    assert bandwidths[0] < bandwidths[-1]


def test_codecs_attribute_matches_the_encoded_profile(ladder_of: Ladders) -> None:
    result = ladder_of("hevc_10bit.mkv")
    for attributes, uri in stream_inf(result.master_playlist.read_text()):
        if "RESOLUTION" not in attributes:
            continue
        folder = result.outdir / Path(uri).parent
        data = (folder / "init.mp4").read_bytes() + (folder / "seg-00000.m4s").read_bytes()
        with av.open(io.BytesIO(data), format="mp4") as container:
            stream = container.streams.video[0]
            next(container.decode(stream))  # the SPS is parsed with the first frame
            context = stream.codec_context
            assert context.name == "h264"
            profile_idc = {"Constrained Baseline": 0x42, "Baseline": 0x42, "Main": 0x4D,
                           "High": 0x64}[context.profile or ""]  # fmt: skip
            assert int(attributes["CODECS"][5:7], 16) == profile_idc
            assert int(attributes["CODECS"][9:11], 16) == context.level
        segments = decode_variant(result.outdir / uri)
        assert {s.pixel_format for s in segments} == {"yuv420p"}, "10-bit becomes 8-bit 4:2:0"


def test_5_1_source_gets_mono_aac_audio_rendition(ladder_of: Ladders) -> None:
    result = ladder_of("surround_51.mp4")
    for rendition in ("audio", "360p"):  # alone, and muxed into the video rungs
        with av.open(str(result.outdir / rendition / "init.mp4")) as container:
            audio = container.streams.audio[0].codec_context
            assert (audio.name, audio.layout.nb_channels) == ("aac", 1)


def test_source_without_audio_gets_no_audio_rendition(ladder_of: Ladders) -> None:
    result = ladder_of("no_audio.mp4")
    master = result.master_playlist.read_text()
    assert "EXT-X-MEDIA" not in master
    assert "mp4a" not in master
    assert not (result.outdir / "audio").exists()


@pytest.mark.parametrize("name", ["audio_only.mp3", "audio_only.m4a"])
def test_audio_only_source_gets_audio_ladder_and_waveform_poster(
    ladder_of: Ladders, name: str
) -> None:
    result = ladder_of(name)
    entries = stream_inf(result.master_playlist.read_text())
    assert [(a["CODECS"], u) for a, u in entries] == [("mp4a.40.2", "audio/index.m3u8")]
    segments = decode_variant(result.outdir / "audio" / "index.m3u8")
    assert segments[-1].end == pytest.approx(5, abs=0.5)
    assert result.poster is not None
    with av.open(str(result.poster)) as poster:
        frame = next(poster.decode(video=0))
        assert (frame.width, frame.height) == (1280, 720)


def test_variable_frame_rate_source_becomes_constant_rate(ladder_of: Ladders) -> None:
    result = ladder_of("variable_frame_rate.mp4")
    segments = decode_variant(result.outdir / "360p" / "index.m3u8")
    frames = sum(s.frames for s in segments)
    assert frames == pytest.approx(30 * result.media.duration, abs=2)
    starts = [s.start for s in segments]
    assert 0.0 <= starts[0] < 0.03  # after the AAC priming samples (the sound is muxed in)
    assert starts[1] - starts[0] == pytest.approx(4.0, abs=0.001)


def test_4k_source_gets_cascade_ladder_up_to_2160p(ladder_of: Ladders) -> None:
    result = ladder_of("lecture_4k.mp4")
    assert result.ladder.scaling == "cascade"
    assert [r.name for r in result.ladder.video][-1] == "2160p"
    top = decode_variant(result.outdir / "2160p" / "index.m3u8")
    assert {(s.width, s.height) for s in top} == {(3840, 2160)}
    bottom = decode_variant(result.outdir / "360p" / "index.m3u8")
    assert [s.start for s in top] == [s.start for s in bottom]


def test_source_smaller_than_360p_gets_one_rung_at_its_size(ladder_of: Ladders) -> None:
    result = ladder_of("small_240p.mp4")
    assert [(r.width, r.height) for r in result.ladder.video] == [(426, 240)]


def test_poster_sprite_and_thumbnail_track_cover_the_lecture(ladder_of: Ladders) -> None:
    result = ladder_of("lecture_1080p.mp4")
    assert result.poster is not None
    assert result.thumbnail_track is not None
    with av.open(str(result.poster)) as poster:
        frame = next(poster.decode(video=0))
        assert (frame.width, frame.height) == (1280, 720)
    cues = re.findall(
        r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n(sprite-\d{3}\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)",
        result.thumbnail_track.read_text(),
    )
    assert result.thumbnail_track.read_text().startswith("WEBVTT")
    assert cues[0][0] == "00:00:00.000"
    assert cues[-1][1] == "00:00:09.000"
    for _, _, sheet, x, y, w, h in cues:
        with av.open(str(result.outdir / sheet)) as sprite:
            image = next(sprite.decode(video=0))
            assert int(x) + int(w) <= image.width
            assert int(y) + int(h) <= image.height
    assert Fraction(int(cues[0][5]), int(cues[0][6])) == Fraction(16, 9)
