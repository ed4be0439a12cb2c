"""Chinese text as the platform keeps it: in Simplified characters. Whisper often mixes
Traditional characters into Mandarin output, and a doctor may type a query in Traditional;
both go through this one conversion, so what is stored and what is searched agree."""

from __future__ import annotations

from functools import cache

from opencc import OpenCC

CHINESE = "zh"


@cache
def _traditional_to_simplified() -> OpenCC:
    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """``text`` with Traditional Chinese characters and phrases converted to Simplified."""
    return str(_traditional_to_simplified().convert(text))


def normalise_text(text: str, language: str) -> str:
    """Whisper's segment text as we store it: trimmed, and in Simplified characters when the
    language is Chinese (other languages are left alone: t2s would touch CJK quotes in them)."""
    text = text.strip()
    return to_simplified(text) if language == CHINESE else text
