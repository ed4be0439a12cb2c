"""Error rates of a transcript against the known text: word error rate for English, character
error rate for Chinese (which has no spaces between words). Used by tests and the benchmark."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edits (substitutions, insertions, deletions) per reference word, case and
    punctuation ignored."""
    return _error_rate(_normalise(reference).split(), _normalise(hypothesis).split())


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Character edits per reference character, spaces and punctuation ignored."""
    return _error_rate(
        list(_normalise(reference).replace(" ", "")), list(_normalise(hypothesis).replace(" ", ""))
    )


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two sequences (one row of the table at a time)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_item in enumerate(reference, start=1):
        current = [i]
        for j, hyp_item in enumerate(hypothesis, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_item != hyp_item))
            )
        previous = current
    return previous[-1]


def _error_rate(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return edit_distance(reference, hypothesis) / len(reference)


def _normalise(text: str) -> str:
    # Punctuation (Latin and full-width) carries no words; Whisper places it inconsistently.
    text = text.replace("'", "").replace("\u2019", "")
    kept = "".join(" " if unicodedata.category(char).startswith("P") else char for char in text)
    return re.sub(r"\s+", " ", kept.lower()).strip()
