"""The sign-in back-off on SQLite and PostgreSQL: waits that grow per failure and are capped, a
success that clears the account, old records forgotten, and a burst of parallel guesses that
gets no more free attempts than one guesser."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from itertools import pairwise

from sqlmodel import Session, select

from training.accounts.models import SignInBackoff
from training.accounts.throttle import ACCOUNT, ADDRESS, SignInThrottle
from training.base import utcnow


def test_each_failure_doubles_the_accounts_wait_up_to_the_cap(session: Session) -> None:
    """A guesser retrying as soon as allowed: the first attempts come at once, then 1 s, 2 s,
    4 s… apart, never more than the cap."""
    throttle, now = SignInThrottle(session), utcnow()
    allowed: list[datetime] = []
    while len(allowed) < 16:
        wait = throttle.reserve("doc-in", "192.0.2.1", now)
        if wait == 0:
            allowed.append(now)
        now += timedelta(seconds=wait)
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(allowed)]
    assert gaps[:9] == [0, 0, 1, 2, 4, 8, 16, 32, 64]
    assert gaps[-1] == ACCOUNT.cap == 300


def test_waiting_immediately_after_a_failure_is_refused_without_counting(
    session: Session,
) -> None:
    throttle, now = SignInThrottle(session), utcnow()
    for _ in range(3):
        assert throttle.reserve("doc-in", "192.0.2.1", now) == 0
    for _ in range(5):  # hammering while backed off does not make the wait longer
        assert throttle.reserve("doc-in", "192.0.2.1", now) == 1
    assert throttle.reserve("doc-in", "192.0.2.1", now + timedelta(seconds=1)) == 0


def test_a_success_clears_the_account_and_gives_the_address_its_attempt_back(
    session: Session,
) -> None:
    throttle, now = SignInThrottle(session), utcnow()
    for _ in range(3):
        throttle.reserve("doc-in", "192.0.2.1", now)
    now += timedelta(seconds=1)
    assert throttle.reserve("doc-in", "192.0.2.1", now) == 0
    throttle.succeeded("doc-in", "192.0.2.1")
    session.commit()
    assert _failures(session) == {"address:192.0.2.1": 3}
    for _ in range(3):
        assert throttle.reserve("doc-in", "192.0.2.1", now) == 0  # a fresh start


def test_the_address_back_off_is_looser_and_spans_accounts(session: Session) -> None:
    throttle, now = SignInThrottle(session), utcnow()
    for number in range(ADDRESS.free):
        assert throttle.reserve(f"user-{number}", "192.0.2.9", now) == 0
    assert throttle.reserve("one-more", "192.0.2.9", now) == 1
    assert throttle.reserve("one-more", "198.51.100.1", now) == 0  # another address


def test_old_records_are_forgotten_and_pruned(session: Session) -> None:
    throttle, then = SignInThrottle(session), utcnow() - timedelta(hours=2)
    for _ in range(6):
        throttle.reserve("doc-in", "192.0.2.1", then)
        then += timedelta(seconds=40)
    now = utcnow()
    assert throttle.reserve("doc-in", "192.0.2.1", now) == 0  # two hours on: forgotten
    throttle.reserve("someone-else", "192.0.2.2", now)  # a new record prunes the stale ones
    assert set(_failures(session)) == {
        "account:doc-in",
        "address:192.0.2.1",
        "account:someone-else",
        "address:192.0.2.2",
    }
    assert _failures(session)["account:doc-in"] == 1


def test_parallel_guesses_get_no_more_free_attempts_than_one_guesser(
    sessions: Callable[[], Session],
) -> None:
    now = utcnow()

    def attempt(_: int) -> float:
        with sessions() as session:
            return SignInThrottle(session).reserve("doc-in", "192.0.2.1", now)

    with ThreadPoolExecutor(max_workers=8) as pool:
        waits = list(pool.map(attempt, range(24)))
    assert waits.count(0) == ACCOUNT.free
    with sessions() as session:
        assert _failures(session)["account:doc-in"] == ACCOUNT.free


def _failures(session: Session) -> dict[str, int]:
    session.expire_all()
    return {row.key: row.failures for row in session.exec(select(SignInBackoff))}
