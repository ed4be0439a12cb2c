"""Transcripts as files: WebVTT and SRT captions, and JSON (which reads back).

Pure functions of :class:`training.ports.Transcription`. Captions follow common subtitle practice:
at most two lines per cue, about 42 characters a line for Latin script and 20 for Chinese
(a CJK character is counted as two columns, and a line holding any is limited to 40 columns); a
longer segment becomes several cues, its time shared out by length. Punctuation never starts a
line, and blank segments make no cue.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any

from training.ports import SpeechSegment, Transcription
from transcoder.webvtt import format_millis, timestamp

LATIN_LINE_COLUMNS = 42
CJK_LINE_COLUMNS = 40
LINES_PER_CUE = 2
_NO_LINE_START = set("，。、；：！？）》」』】〕,.;:!?)]}%")
_BREAK_AFTER = set("，。、；：！？,.;:!?")


@dataclass(frozen=True)
class Cue:
    """One caption on screen: its times in seconds and its lines (at most two)."""

    start: float
    end: float
    lines: tuple[str, ...]


@dataclass(frozen=True)
class _Token:
    text: str
    space_before: bool


def format_timestamp(seconds: float, *, decimal_marker: str = ".") -> str:
    """``HH:MM:SS.mmm`` (WebVTT) or, with ``decimal_marker=","``, ``HH:MM:SS,mmm`` (SRT)."""
    return timestamp(seconds, decimal_marker)


def caption_cues(transcription: Transcription) -> list[Cue]:
    """The cues of a transcript: each segment wrapped, and split where it needs > 2 lines."""
    cues: list[Cue] = []
    for segment in transcription.segments:
        lines = wrap_lines(segment.text)
        if not lines:
            continue
        groups = [lines[i : i + LINES_PER_CUE] for i in range(0, len(lines), LINES_PER_CUE)]
        total = sum(_columns("".join(group)) for group in groups)
        start, span = segment.start, max(segment.end - segment.start, 0.0)
        for group in groups:
            share = span * _columns("".join(group)) / total if total else span
            cues.append(Cue(start=start, end=start + share, lines=tuple(group)))
            start += share
    return cues


def wrap_lines(text: str) -> list[str]:
    """``text`` in lines no wider than a caption line (see the module docstring). A full line
    breaks after its last punctuation mark when that is past 60 % of the line."""
    limit = CJK_LINE_COLUMNS if any(_is_wide(char) for char in text) else LATIN_LINE_COLUMNS
    lines: list[list[_Token]] = []
    current: list[_Token] = []
    for token in _tokens(text):
        if current and _columns(_join([*current, token])) > limit:
            keep = _break_after_punctuation(current, limit)
            lines.append(current[:keep])
            current = current[keep:]
        current.append(token)
    if current:
        lines.append(current)
    return [_join(line) for line in lines]


def _break_after_punctuation(line: list[_Token], limit: int) -> int:
    for index in range(len(line) - 1, 0, -1):
        if line[index - 1].text[-1] in _BREAK_AFTER:
            return index if _columns(_join(line[:index])) >= 0.6 * limit else len(line)
    return len(line)


def _join(tokens: list[_Token]) -> str:
    return "".join((" " if t.space_before and i else "") + t.text for i, t in enumerate(tokens))


def to_webvtt(transcription: Transcription) -> str:
    """WebVTT captions (``WEBVTT`` header, ``HH:MM:SS.mmm`` times, ``&``, ``<``, ``>`` escaped)."""
    blocks = ["WEBVTT"]
    for cue in caption_cues(transcription):
        start, end = _cue_millis(cue)
        text = "\n".join(_escape_vtt(line) for line in cue.lines)
        blocks.append(f"{format_millis(start, '.')} --> {format_millis(end, '.')}\n{text}")
    return "\n\n".join(blocks) + "\n"


def to_srt(transcription: Transcription) -> str:
    """SubRip captions: numbered cues with ``HH:MM:SS,mmm`` times."""
    blocks = []
    for number, cue in enumerate(caption_cues(transcription), start=1):
        start, end = _cue_millis(cue)
        times = f"{format_millis(start, ',')} --> {format_millis(end, ',')}"
        blocks.append(f"{number}\n{times}\n" + "\n".join(cue.lines))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def to_json(transcription: Transcription) -> str:
    """The transcript as JSON: ``{"language", "duration", "segments": [{start, end, text}]}``."""
    data = {
        "language": transcription.language,
        "duration": round(transcription.duration, 3),
        "segments": [
            {"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text}
            for s in transcription.segments
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def from_json(text: str) -> Transcription:
    """Read what :func:`to_json` wrote. Raises ``ValueError`` for anything else."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
        raise ValueError("not a transcript: expected an object with a list of segments")
    try:
        segments = [_segment_from(item) for item in data["segments"]]
        return Transcription(
            language=str(data["language"]), duration=float(data["duration"]), segments=segments
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a transcript: {exc}") from exc


def _segment_from(item: Any) -> SpeechSegment:
    return SpeechSegment(start=float(item["start"]), end=float(item["end"]), text=str(item["text"]))


def _tokens(text: str) -> list[_Token]:
    """Units a line may not split: a Latin word, or one CJK character. Punctuation sticks to the
    token before it so that it never begins a line."""
    tokens: list[_Token] = []
    space = False
    for char in text:
        if char.isspace():
            space = True
            continue
        joins_previous = tokens and not space and not _is_wide(tokens[-1].text[-1])
        if tokens and (char in _NO_LINE_START or (joins_previous and not _is_wide(char))):
            tokens[-1] = _Token(
                tokens[-1].text + ("" if not space else " ") + char, tokens[-1].space_before
            )
        else:
            tokens.append(_Token(char, space))
        space = False
    return tokens


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _columns(text: str) -> int:
    return sum(2 if _is_wide(char) else 1 for char in text)


def _escape_vtt(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cue_millis(cue: Cue) -> tuple[int, int]:
    start = _millis(cue.start)
    return start, max(_millis(cue.end), start + 1)  # a cue must end after it starts


def _millis(seconds: float) -> int:
    return max(0, round(seconds * 1000))
