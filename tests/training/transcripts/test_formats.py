"""Transcripts as WebVTT, SRT and JSON (pure functions; the VTT is checked by webvtt-py)."""

from __future__ import annotations

import itertools
import json
import unicodedata

import pytest
import webvtt
from hypothesis import given
from hypothesis import strategies as st

from training.ports import SpeechSegment, Transcription
from training.transcripts.formats import (
    caption_cues,
    format_timestamp,
    from_json,
    to_json,
    to_srt,
    to_webvtt,
    wrap_lines,
)

LONG_CHINESE = (
    "老年患者的血压应该每天测量，服用降压药以后，如果头晕，请及时告诉医生。"
    "儿童发热超过三天，需要到乡镇卫生院就诊。"
)
LONG_ENGLISH = (
    "High blood pressure is common in elderly patients. Measure the blood pressure at every "
    "visit, and ask about dizziness after each change of dose."
)
LECTURE = Transcription(
    language="zh",
    duration=3725.5,
    segments=[
        SpeechSegment(0.0, 6.0, LONG_CHINESE),
        SpeechSegment(6.0, 6.5, "   "),
        SpeechSegment(6.5, 12.0, LONG_ENGLISH),
        SpeechSegment(3600.25, 3602.5, "Na+ < 135 & K+ > 5.5 mmol/L --> call the doctor"),
        SpeechSegment(3603.0, 3603.0, "好。"),
    ],
)


def columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in line)


def test_webvtt_validates_with_an_independent_parser() -> None:
    captions = webvtt.from_string(to_webvtt(LECTURE), strict=True)
    assert len(captions) == len(caption_cues(LECTURE))
    assert captions[0].start == "00:00:00.000"
    assert all(caption.text.strip() for caption in captions)


def test_webvtt_escapes_markup_characters() -> None:
    vtt = to_webvtt(LECTURE)
    assert "Na+ &lt; 135 &amp; K+ &gt; 5.5 mmol/L --&gt; call the\ndoctor" in vtt
    assert "<" not in vtt
    assert vtt.count("-->") == len(caption_cues(LECTURE))


def test_webvtt_times_pass_the_hour() -> None:
    assert "01:00:00.250 --> " in to_webvtt(LECTURE)
    assert format_timestamp(3725.5) == "01:02:05.500"
    assert format_timestamp(0.0004, decimal_marker=",") == "00:00:00,000"


def test_blank_segments_make_no_cue() -> None:
    assert all(
        cue.lines and all(line.strip() for line in cue.lines) for cue in caption_cues(LECTURE)
    )
    assert to_webvtt(Transcription("en", 5.0, [SpeechSegment(0, 5, " ")])) == "WEBVTT\n"
    assert to_srt(Transcription("en", 0.0)) == ""


def test_zero_length_segment_gets_a_cue_that_ends_after_it_starts() -> None:
    assert "01:00:03.000 --> 01:00:03.001\n好。" in to_webvtt(LECTURE)


def test_long_chinese_segment_is_split_into_cues_of_two_lines_of_twenty_characters() -> None:
    cues = [cue for cue in caption_cues(LECTURE) if cue.end <= 6.0]
    assert len(cues) >= 2
    assert all(len(cue.lines) <= 2 for cue in cues)
    assert all(len(line) <= 20 for cue in cues for line in cue.lines)
    assert "".join(line for cue in cues for line in cue.lines) == LONG_CHINESE


def test_chinese_lines_break_after_punctuation_and_never_start_with_it() -> None:
    lines = wrap_lines(LONG_CHINESE)
    assert lines[0] == "老年患者的血压应该每天测量，"
    assert not any(line[0] in "，。、" for line in lines)


def test_long_english_segment_wraps_at_words_within_42_characters() -> None:
    lines = wrap_lines(LONG_ENGLISH)
    assert all(len(line) <= 42 for line in lines)
    assert " ".join(lines) == LONG_ENGLISH


def test_split_segment_shares_its_time_in_order() -> None:
    cues = [cue for cue in caption_cues(LECTURE) if 6.5 <= cue.start < 12.0]
    assert cues[0].start == 6.5
    assert cues[-1].end == pytest.approx(12.0)
    assert all(a.end == pytest.approx(b.start) for a, b in itertools.pairwise(cues))


def test_srt_cues_are_numbered_with_comma_millis() -> None:
    srt = to_srt(LECTURE)
    blocks = srt.strip().split("\n\n")
    assert [block.split("\n")[0] for block in blocks] == [str(n) for n in range(1, len(blocks) + 1)]
    assert blocks[0].split("\n")[1] == "00:00:00,000 --> 00:00:02,945"
    assert "Na+ < 135 & K+ > 5.5" in srt


def test_json_round_trips() -> None:
    text = to_json(LECTURE)
    data = json.loads(text)
    assert set(data) == {"language", "duration", "segments"}
    assert data["segments"][0] == {"start": 0.0, "end": 6.0, "text": LONG_CHINESE}
    assert from_json(text) == LECTURE
    assert "老年患者" in text  # readable UTF-8, not \\u escapes


@pytest.mark.parametrize("text", ["[]", '{"language": "zh"}', '{"segments": [{"start": 1}]}'])
def test_json_that_is_not_a_transcript_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="not a transcript"):
        from_json(text)


@given(st.text(alphabet=st.sampled_from("abc defghij 血压降药，。老年患者 ,.&<"), max_size=300))
def test_wrapping_keeps_every_character_and_the_line_width(text: str) -> None:
    lines = wrap_lines(text)
    assert "".join("".join(lines).split()) == "".join(text.split())
    limit = 40 if any(unicodedata.east_asian_width(c) == "W" for c in text) else 42
    for line in lines:
        # A single word longer than a line is the only line allowed to overflow.
        assert columns(line) <= limit or " " not in line.strip()
