"""Sign-in back-off: each failed sign-in makes the next attempt for the same account wait
longer (none for the first few, then 1 s, 2 s, 4 s… up to a few minutes), and a looser one per
client address slows down guessing across many accounts.

It is back-off, not lock-out: the real owner can always sign in once the wait is over, and a
success clears the account's record. The records are rows in the database, so every portal
process (and every portal of a scale-out deployment) sees the same counts.

An attempt is *reserved* before the password is checked: its failure is counted first, with a
compare-and-set on the count, so a burst of parallel guesses cannot all slip through while the
first is still being checked; a success then gives the reservation back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from training.accounts.models import SignInBackoff
from training.base import utcnow


@dataclass(frozen=True)
class BackoffPolicy:
    """``free`` failures cost nothing; each one after waits twice as long, from 1 s up to
    ``cap`` seconds. A record quiet for ``forget_after`` is forgotten."""

    free: int
    cap: float
    forget_after: timedelta = timedelta(hours=1)

    def wait_after(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return float(min(2 ** (failures - self.free), self.cap))


ACCOUNT = BackoffPolicy(free=3, cap=300)
ADDRESS = BackoffPolicy(free=30, cap=300)  # a clinic behind one NAT address has many doctors


def _key(kind: str, value: str) -> str:
    return f"{kind}:{value}"[:160]


class SignInThrottle:
    def __init__(
        self, session: Session, account: BackoffPolicy = ACCOUNT, address: BackoffPolicy = ADDRESS
    ) -> None:
        self.session = session
        self.policies = {"account": account, "address": address}

    def reserve(self, username: str, address: str, now: datetime | None = None) -> float:
        """0 when this sign-in may go ahead (it is counted as a failure until
        ``succeeded``), else the seconds to wait before the next attempt. Commits."""
        now = now or utcnow()
        keys = {"account": _key("account", username), "address": _key("address", address)}
        waits = [self._wait(kind, key, now) for kind, key in keys.items()]
        if max(waits) > 0:
            return max(waits)
        for kind, key in keys.items():
            wait = self._count(kind, key, now)  # commits each reservation
            if wait > 0:  # another attempt took the free slot first
                return wait
        return 0.0

    def succeeded(self, username: str, address: str) -> None:
        """The password was right: the account starts afresh, and the address gets back the
        attempt it reserved. Does not commit (the sign-in's own transaction does)."""
        self.session.execute(
            delete(SignInBackoff).where(col(SignInBackoff.key) == _key("account", username))
        )
        self.session.execute(
            update(SignInBackoff)
            .where(col(SignInBackoff.key) == _key("address", address))
            .where(col(SignInBackoff.failures) > 0)
            .values(failures=SignInBackoff.failures - 1)
        )

    def _forget_stale(self, now: datetime) -> None:
        """Delete the records nobody has failed on for longer than they are remembered."""
        oldest = now - max(policy.forget_after for policy in self.policies.values())
        self.session.execute(
            delete(SignInBackoff).where(col(SignInBackoff.last_failure_at) < oldest)
        )

    def _find(self, key: str) -> SignInBackoff | None:
        query = select(SignInBackoff).where(SignInBackoff.key == key)
        return self.session.exec(query.execution_options(populate_existing=True)).first()

    def _failures(self, kind: str, row: SignInBackoff | None, now: datetime) -> int:
        if row is None or now - row.last_failure_at > self.policies[kind].forget_after:
            return 0
        return row.failures

    def _wait(self, kind: str, key: str, now: datetime) -> float:
        return self._wait_for(kind, self._find(key), now)

    def _wait_for(self, kind: str, row: SignInBackoff | None, now: datetime) -> float:
        failures = self._failures(kind, row, now)
        if row is None or failures == 0:
            return 0.0
        ready_at = row.last_failure_at + timedelta(seconds=self.policies[kind].wait_after(failures))
        return max(0.0, (ready_at - now).total_seconds())

    def _count(self, kind: str, key: str, now: datetime) -> float:
        """Count one more failure for ``key`` if no other attempt got there first (0), else
        the wait that attempt set."""
        # Each lost compare-and-set means another attempt was counted, so this ends within as
        # many rounds as attempts run at once; the bound only guards against the unforeseen.
        for _ in range(64):
            row = self._find(key)
            if row is None:
                try:
                    self._forget_stale(now)  # the table grows by inserts: prune with them
                    self.session.add(SignInBackoff(key=key, failures=1, last_failure_at=now))
                    self.session.commit()
                    return 0.0
                except IntegrityError:
                    self.session.rollback()
                    continue  # created by a parallel attempt: read it again
            wait = self._wait_for(kind, row, now)
            if wait > 0:  # another attempt used the last free one since we looked
                return wait
            seen = row.failures
            failures = self._failures(kind, row, now)
            claimed = self.session.execute(
                update(SignInBackoff)
                .where(col(SignInBackoff.id) == row.id)
                .where(col(SignInBackoff.failures) == seen)
                .values(failures=failures + 1, last_failure_at=now)
            )
            if getattr(claimed, "rowcount", 0) == 1:
                self.session.commit()
                return 0.0
            self.session.rollback()
        return 1.0  # never reached in practice: treat as a burst of guesses and make it wait
