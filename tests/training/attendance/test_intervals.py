"""The interval arithmetic behind watched time, against a brute-force reference: the set of
milliseconds covered. Intervals are drawn on a millisecond grid, so the reference is exact."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from training.attendance import intervals
from training.attendance.models import ViewingMode
from training.attendance.rules import HeartbeatIn, folded

MS = 1000
millis = st.integers(min_value=0, max_value=20 * MS)
pairs = st.tuples(millis, millis).map(lambda p: (min(p) / MS, max(p) / MS))
interval_lists = st.lists(pairs, max_size=30)


def covered(pairs: list[tuple[float, float]], limit: float | None = None) -> set[int]:
    """The milliseconds [t, t + 1 ms) covered by ``pairs`` (within [0, limit])."""
    found: set[int] = set()
    for start, end in pairs:
        low, high = round(start * MS), round(end * MS)
        if limit is not None:
            low, high = max(low, 0), min(high, round(limit * MS))
        found.update(range(low, high))
    return found


def is_merged(merged: list[tuple[float, float]]) -> bool:
    return all(s < e for s, e in merged) and all(
        merged[i][1] < merged[i + 1][0] for i in range(len(merged) - 1)
    )


@given(interval_lists)
def test_merge_covers_exactly_what_the_intervals_cover(pairs: list[tuple[float, float]]) -> None:
    merged = intervals.merge(pairs)
    assert is_merged(merged)
    assert covered(merged) == covered(pairs)
    assert round(intervals.union_length(pairs) * MS) == len(covered(pairs))


@given(interval_lists, pairs)
def test_adding_one_interval_equals_merging_all(
    pairs: list[tuple[float, float]], extra: tuple[float, float]
) -> None:
    merged = intervals.merge(pairs)
    added = intervals.add(merged, *extra)
    assert added == intervals.merge([*pairs, extra])
    assert is_merged(added)


@given(interval_lists, st.integers(min_value=0, max_value=25 * MS))
def test_clip_keeps_only_the_lecture(pairs: list[tuple[float, float]], limit_ms: int) -> None:
    limit = limit_ms / MS
    clipped = intervals.clip(pairs, limit)
    assert is_merged(clipped)
    assert covered(clipped) == covered(pairs, limit)


@given(interval_lists, st.randoms(use_true_random=False))
def test_order_and_repetition_do_not_change_the_union(
    pairs: list[tuple[float, float]], rng: random.Random
) -> None:
    """Out-of-order and duplicate heartbeats: any order, any repeats, the same union."""
    shuffled = pairs + rng.choices(pairs, k=len(pairs)) if pairs else []
    rng.shuffle(shuffled)
    assert intervals.merge(shuffled) == intervals.merge(pairs)


def test_touching_intervals_are_one_and_empty_ones_add_nothing() -> None:
    assert intervals.merge([(15.0, 30.0), (0.0, 15.0), (40.0, 40.0)]) == [(0.0, 30.0)]
    assert intervals.add([(0.0, 15.0)], 15.0, 15.0) == [(0.0, 15.0)]
    assert intervals.add([(0.0, 15.0), (30.0, 45.0)], 15.0, 30.0) == [(0.0, 45.0)]


def test_a_rewind_does_not_count_twice_and_a_seek_leaves_a_gap() -> None:
    played = [(0.0, 15.0), (15.0, 30.0), (10.0, 25.0), (25.0, 40.0), (100.0, 115.0)]
    assert intervals.union_length(played) == 55.0


heartbeat_plans = st.lists(
    st.tuples(pairs, st.sampled_from(list(ViewingMode)), st.integers(1, 12)),
    min_size=1,
    max_size=25,
)


def heartbeat(
    seq: int, interval: tuple[float, float], mode: ViewingMode, heads: int
) -> HeartbeatIn:
    return HeartbeatIn(
        session_id="session-1", seq=seq, lecture_id=1, mode=mode, start_s=interval[0],
        end_s=interval[1], playing=True, rendition="360", stalls=1, stalled_s=0.5,
        head_count=heads, sent_at=None,
    )  # fmt: skip


@settings(max_examples=60)
@given(heartbeat_plans, st.randoms(use_true_random=False), st.integers(1, 5))
def test_a_session_folded_batch_by_batch_in_any_order_equals_the_union(
    plan: list[tuple[tuple[float, float], ViewingMode, int]], rng: random.Random, batches: int
) -> None:
    """Heartbeats of a session spanning live and on demand, arriving in shuffled batches:
    the aggregate holds the union per mode, the latest head count and every stall once."""
    beats = [heartbeat(seq, *item) for seq, item in enumerate(plan)]
    arrival = beats[:]
    rng.shuffle(arrival)
    row = {"live_intervals": [], "vod_intervals": [], "rendition_seconds": {}, "last_seq": -1,
           "head_count": 1, "mode": ViewingMode.VOD, "rendition": "", "stalls": 0,
           "stalled_s": 0.0}  # fmt: skip
    inner = range(1, len(arrival))  # the batches' boundaries; the last ends with the session
    cuts = [*sorted(rng.sample(inner, min(batches - 1, len(inner)))), len(arrival)]
    begin = 0
    for cut in cuts:
        if arrival[begin:cut]:
            row |= folded(row, arrival[begin:cut], now=None)  # type: ignore[arg-type]
        begin = cut
    for mode, key in ((ViewingMode.LIVE, "live_intervals"), (ViewingMode.VOD, "vod_intervals")):
        expected = covered([(b.start_s, b.end_s) for b in beats if b.mode is mode])
        assert covered([tuple(p) for p in row[key]]) == expected  # type: ignore[misc]
    assert row["head_count"] == beats[-1].head_count
    assert row["mode"] == beats[-1].mode.value
    assert row["stalls"] == len(beats)
    played = sum(b.end_s - b.start_s for b in beats)
    assert abs(sum(row["rendition_seconds"].values()) - played) < 1e-6
