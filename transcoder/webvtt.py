"""WebVTT (and SRT) timestamps: the one formatter of the thumbnail track written here and of
the captions written by ``training.transcripts.formats``."""

from __future__ import annotations


def format_millis(millis: int, decimal_marker: str = ".") -> str:
    """``HH:MM:SS.mmm`` (WebVTT), or ``HH:MM:SS,mmm`` with ``decimal_marker=","`` (SRT)."""
    hours, rest = divmod(max(0, millis), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{decimal_marker}{millis:03d}"


def timestamp(seconds: float, decimal_marker: str = ".") -> str:
    """``seconds`` (rounded to the millisecond, never negative) as a cue timestamp."""
    return format_millis(round(seconds * 1000), decimal_marker)
