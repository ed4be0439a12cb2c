"""Interval arithmetic on a lecture's timeline, pure: watched time is the length of the union of
the intervals played, so a rewind, a seek back or a repeated heartbeat never counts twice.

A *merged* list is sorted, disjoint ``(start, end)`` pairs with ``start < end``; touching
intervals (``[0, 15]`` and ``[15, 30]``) are one. Every function accepts any iterable of
pairs (JSON hands them back as lists) and returns tuples.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

Interval = tuple[float, float]


def merge(intervals: Iterable[Sequence[float]]) -> list[Interval]:
    """The union of ``intervals`` as a merged list; empty and reversed pairs add nothing."""
    ordered = sorted((float(start), float(end)) for start, end in intervals if end > start)
    merged: list[Interval] = []
    for start, end in ordered:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def add(merged: Sequence[Sequence[float]], start: float, end: float) -> list[Interval]:
    """``merged`` with ``[start, end]`` added, still merged. Only the pairs the new one
    overlaps or touches are rewritten: a heartbeat costs O(log n) comparisons plus the copy."""
    pairs = [(float(s), float(e)) for s, e in merged]
    if end <= start:
        return pairs
    starts = [s for s, _ in pairs]
    # The first pair that may touch [start, end]: the one before the insertion point when
    # it reaches start.
    low = bisect.bisect_left(starts, start)
    if low > 0 and pairs[low - 1][1] >= start:
        low -= 1
    high = bisect.bisect_right(starts, end)  # pairs[low:high] start at or before ``end``
    if low < high:
        start = min(start, pairs[low][0])
        end = max(end, pairs[high - 1][1])
    return [*pairs[:low], (start, end), *pairs[high:]]


def add_all(
    merged: Sequence[Sequence[float]], intervals: Iterable[Sequence[float]]
) -> list[Interval]:
    """``merged`` with every pair of ``intervals`` added."""
    return merge([*merged, *intervals])


def length(merged: Iterable[Sequence[float]]) -> float:
    """The total length of a merged list."""
    return sum(end - start for start, end in merged)


def union_length(intervals: Iterable[Sequence[float]]) -> float:
    """The length of the union of any pairs, overlapping or not."""
    return length(merge(intervals))


def clip(intervals: Iterable[Sequence[float]], limit: float) -> list[Interval]:
    """The parts of ``intervals`` inside ``[0, limit]``, merged."""
    return merge((max(0.0, start), min(float(limit), end)) for start, end in intervals)
