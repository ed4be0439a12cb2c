from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.media_info import audio_only, source
from transcoder import MediaInfo, PlanError, plan_ladder


def sizes(media: MediaInfo, **options: object) -> list[tuple[int, int]]:
    return [(r.width, r.height) for r in plan_ladder(media, **options).video]  # type: ignore[arg-type]


def test_ladder_for_1080p_source_has_240p_to_1080p_rungs() -> None:
    assert sizes(source()) == [(426, 240), (640, 360), (960, 540), (1280, 720), (1920, 1080)]


def test_the_240p_rung_fits_half_a_megabit_with_its_sound() -> None:
    lowest = plan_ladder(source()).video[0]
    assert (lowest.name, lowest.frame_rate) == ("240p", 15)
    assert lowest.maxrate_kbps + 64 <= 0.5 * 500  # with the AAC sound: half of a 0.5 Mbit/s link


def test_ladder_never_upscales_720p_source() -> None:
    assert sizes(source(1280, 720)) == [(426, 240), (640, 360), (960, 540), (1280, 720)]


def test_ladder_for_4k_source_adds_2160p_and_cascades_on_auto() -> None:
    ladder = plan_ladder(source(3840, 2160))
    assert [r.name for r in ladder.video] == ["240p", "360p", "540p", "720p", "1080p", "2160p"]
    assert ladder.scaling == "cascade"
    assert plan_ladder(source(1920, 1080)).scaling == "source"
    assert plan_ladder(source(1920, 1080), scaling="cascade").scaling == "cascade"
    assert plan_ladder(source(3840, 2160), scaling="source").scaling == "source"


def test_ladder_keeps_portrait_phone_video_portrait() -> None:
    assert sizes(source(1920, 1080, rotation=90)) == [
        (240, 426),
        (360, 640),
        (540, 960),
        (720, 1280),
        (1080, 1920),
    ]


def test_ladder_keeps_4_3_aspect_ratio() -> None:
    assert sizes(source(1440, 1080)) == [
        (320, 240),
        (480, 360),
        (720, 540),
        (960, 720),
        (1440, 1080),
    ]


def test_ladder_for_a_small_source_has_one_rung_at_240p_or_its_own_size() -> None:
    assert sizes(source(426, 240)) == [(426, 240)]
    assert sizes(source(640, 300)) == [(512, 240)]
    assert sizes(source(321, 181)) == [(320, 180)]


def test_ladder_max_height_caps_the_top_rung() -> None:
    assert sizes(source(3840, 2160), max_height=720) == [
        (426, 240),
        (640, 360),
        (960, 540),
        (1280, 720),
    ]


def test_ladder_refuses_max_height_below_240() -> None:
    with pytest.raises(PlanError):
        plan_ladder(source(), max_height=180)


def test_ladder_caps_frame_rate_at_15_for_240p_30_up_to_720p_and_keeps_60_above() -> None:
    rates = {r.name: r.frame_rate for r in plan_ladder(source(rate=Fraction(60))).video}
    assert rates == {"240p": 15, "360p": 30, "540p": 30, "720p": 30, "1080p": 60}


def test_ladder_halves_ntsc_rates_to_keep_cadence() -> None:
    rates = [r.frame_rate for r in plan_ladder(source(rate=Fraction(60000, 1001))).video]
    assert rates[0] == Fraction(15000, 1001)
    assert rates[1] == Fraction(30000, 1001)
    assert rates[-1] == Fraction(60000, 1001)


def test_ladder_60fps_rungs_get_more_bits() -> None:
    top30 = plan_ladder(source()).video[-1]
    top60 = plan_ladder(source(rate=Fraction(60))).video[-1]
    assert top60.maxrate_kbps > top30.maxrate_kbps


def test_ladder_for_source_without_audio_has_no_audio_rung() -> None:
    assert plan_ladder(source(audio=None)).audio is None
    assert plan_ladder(source()).audio is not None


def test_ladder_for_audio_only_source_is_audio_plus_waveform_poster() -> None:
    ladder = plan_ladder(audio_only())
    assert ladder.video == ()
    assert ladder.audio is not None
    assert ladder.audio.channels == 1
    assert 48 <= ladder.audio.bitrate_kbps <= 64
    assert ladder.thumbnails is not None
    assert ladder.thumbnails.waveform


def test_ladder_uses_capped_crf_with_bufsize_twice_maxrate() -> None:
    for rung in plan_ladder(source(3840, 2160)).video:
        assert 18 <= rung.crf <= 28
        assert rung.bufsize_kbps == 2 * rung.maxrate_kbps


def test_ladder_segments_are_a_multiple_of_the_gop() -> None:
    ladder = plan_ladder(source())
    assert ladder.segment_seconds in (4, 6)
    assert ladder.segment_seconds % ladder.gop_seconds == 0


@settings(database=None, deadline=None)  # no .hypothesis/ in the tree; CI machines are busy
@given(
    width=st.integers(min_value=16, max_value=7680),
    height=st.integers(min_value=16, max_value=4320),
    rotation=st.sampled_from([0, 90, 180, 270]),
    rate=st.fractions(min_value=1, max_value=240, max_denominator=1001),
)
def test_ladder_properties_hold_for_any_source(
    width: int, height: int, rotation: int, rate: Fraction
) -> None:
    media = source(width, height, rate=rate, rotation=rotation)
    assert media.video is not None
    display_w, display_h = media.video.display_width, media.video.display_height
    ladder = plan_ladder(media)
    assert ladder.video, "every video source gets at least one rung"
    for rung in ladder.video:
        assert rung.width % 2 == 0
        assert rung.height % 2 == 0
        assert rung.width <= display_w, "never upscaled"
        assert rung.height <= display_h, "never upscaled"
        assert (rung.height > rung.width) == (display_h > display_w) or rung.width == rung.height
        # Aspect kept within the rounding to even sizes (one pixel either way per side).
        assert abs(rung.width * display_h - rung.height * display_w) <= 2 * (display_w + display_h)
        short = min(rung.width, rung.height)
        assert rung.frame_rate <= (15 if short <= 240 else 30 if short <= 720 else 60)
        assert rung.frame_rate <= max(rate, Fraction(1))
    assert [min(r.width, r.height) for r in ladder.video] == sorted(
        min(r.width, r.height) for r in ladder.video
    )
