"""Who is asking: the user id in the signed session cookie, resolved per request."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import Any

from litestar import Request

from training.accounts.models import User
from web.state import Services

SESSION_USER = "user_id"
_FOUND_USER = "clinicast_user"  # on request.state, once the session cookie has been resolved


def current_user(request: Request[Any, Any, Any], services: Services) -> User | None:
    """The signed-in, active user, read once per request (the locale hook and the handler
    both ask)."""
    if _FOUND_USER in request.state:
        return known_user(request)
    user_id = request.session.get(SESSION_USER) if "session" in request.scope else None
    user = None
    if isinstance(user_id, int):
        with services.sessions() as session:
            found = session.get(User, user_id)
            if found is not None and found.is_active:
                session.expunge(found)
                user = found
    request.state[_FOUND_USER] = user
    return user


def known_user(request: Request[Any, Any, Any]) -> User | None:
    """The user this request was already found to be, without asking the database: for error
    pages, which must render even when the database is what failed."""
    known: User | None = request.state.get(_FOUND_USER)
    return known


class LoginThrottle:
    """At most ``limit`` failed sign-ins per client address and per username in ``window``
    seconds: enough for a doctor who mistypes, too few for guessing."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] < time.monotonic() - self.window:
            failures.popleft()
        return failures

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(key)) >= self.limit for key in keys)

    def failed(self, *keys: str) -> None:
        for key in keys:
            self._recent(key).append(time.monotonic())
