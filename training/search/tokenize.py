"""Turning text into search tokens, the same way for the index and for queries.

Neither SQLite's FTS5 nor PostgreSQL's parser knows where one Chinese word ends and the next
begins, so the text is segmented here (rjieba) and both databases only ever see words separated
by spaces. Chinese is indexed in jieba's search mode (降压药 → 降压, 降压药) and queries are cut
in its precise mode, so a query for either word finds the text. Latin words are case-folded and
lightly stemmed (injections → injection); digits stay as they are.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache

import rjieba

from training.transcripts.chinese import to_simplified

_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits: 'COVID-19' → COVID, 19
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_VOWEL = re.compile(r"[aeiouy]")
# Words too common to tell lectures apart; dropped on both sides, so a query that uses them
# still finds text that does.
_STOPWORDS_TEXT = """
    的 了 和 与 及 或 是 在 也 就 都 而 着 把 被 这 那 之 于 吗 呢 吧 啊 我 你 他 她 它
    我们 你们 他们 一个 这个 那个 没有 就是 可以
    a an and are as at be by for from in is it of on or that the this to was were with
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def index_tokens(text: str) -> list[str]:
    """The tokens under which ``text`` is indexed (in order, repeats kept for ranking)."""
    # Search mode yields a word and its sub-words (高血压, 血压); for Latin words it repeats the
    # head (COVID, COVID-19), so a token is counted once per place it starts.
    seen: set[tuple[str, int]] = set()
    tokens: list[str] = []
    for word, start, _end in rjieba.tokenize(_normalise(text), mode="search"):
        for match in _WORD.finditer(word):
            token = stem(match.group().casefold())
            if token not in STOPWORDS and (token, start + match.start()) not in seen:
                seen.add((token, start + match.start()))
                tokens.append(token)
    return tokens


def query_tokens(query: str) -> list[str]:
    """The distinct tokens a query must match, in order. Traditional characters are turned
    into Simplified first, as transcripts are stored."""
    text = _normalise(query)
    if _CJK.search(text):
        text = to_simplified(text)
    return list(dict.fromkeys(_tokens(rjieba.cut(text))))


def as_document(tokens: Iterable[str]) -> str:
    """Tokens as the space-separated text the databases index."""
    return " ".join(tokens)


def highlight(text: str, tokens: Iterable[str], *, width: int = 0) -> str:
    """``text`` HTML-escaped, with every word that matches one of ``tokens`` wrapped in
    ``<mark>``. With ``width``, only about that many characters around the first match are
    kept, with an ellipsis where text was cut."""
    normalised, origin = _normalise_with_origins(text)
    found = _matching_spans(normalised, set(tokens))
    spans = _merge((origin[start], origin[end - 1] + 1) for start, end in found)
    start, end = 0, len(text)
    if width and len(text) > width:
        first = spans[0][0] if spans else 0
        start = max(0, min(first - width // 3, len(text) - width))
        end = start + width
    parts = ["…"] if start > 0 else []
    cursor = start
    for span_start, span_end in spans:
        if span_end <= start or span_start >= end:
            continue
        left, right = max(span_start, start), min(span_end, end)
        parts += [
            html.escape(text[cursor:left]),
            "<mark>",
            html.escape(text[left:right]),
            "</mark>",
        ]
        cursor = right
    parts.append(html.escape(text[cursor:end]))
    if end < len(text):
        parts.append("…")
    return "".join(parts)


@lru_cache(maxsize=1 << 16)  # a vocabulary's worth: stemming is pure, and called per word
def stem(word: str) -> str:
    """A light English stemmer (plurals, -ed, -ing), applied alike to text and queries so that
    'injections', 'Injection' and 'injection' meet. Not Porter: just enough to be predictable."""
    if not word.isascii() or not word.isalpha() or len(word) <= 3:
        return word
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("eed"):  # bleed, need: not a past tense
        return word
    for suffix in ("ing", "ed"):
        stemmed = word[: -len(suffix)]
        if word.endswith(suffix) and len(stemmed) >= 3 and _VOWEL.search(stemmed):
            return stemmed[:-1] if _doubled(stemmed) else stemmed
    return word


def _doubled(word: str) -> bool:
    return len(word) > 2 and word[-1] == word[-2] and word[-1] not in "aeiouslz"


def _tokens(words: Iterable[str]) -> Iterator[str]:
    for word in words:
        for match in _WORD.finditer(word):
            token = stem(match.group().casefold())
            if token not in STOPWORDS:
                yield token


def _matching_spans(text: str, wanted: set[str]) -> Iterator[tuple[int, int]]:
    for word, start, _end in rjieba.tokenize(text, mode="search"):
        for match in _WORD.finditer(word):
            if stem(match.group().casefold()) in wanted:
                yield start + match.start(), start + match.end()


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _normalise(text: str) -> str:
    # NFKC folds full-width Latin letters and digits (ＣＯＶＩＤ１９) into ASCII.
    return unicodedata.normalize("NFKC", text)


def _normalise_with_origins(text: str) -> tuple[str, list[int]]:
    """``text`` normalised, and for each of its characters the offset it came from in ``text``
    (so that matches found in the normalised text mark the text as written: ，stays ，)."""
    if unicodedata.is_normalized("NFKC", text):
        # The usual case (a search highlights a hundred snippets): nothing to fold, and no
        # character of NFKC text folds on its own either, so each one is its own origin.
        return text, list(range(len(text)))
    pieces: list[str] = []
    origin: list[int] = []
    for offset, char in enumerate(text):
        folded = unicodedata.normalize("NFKC", char)
        pieces.append(folded)
        origin.extend([offset] * len(folded))
    return "".join(pieces), origin
