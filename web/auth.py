"""Who is asking: a personal access token (``Authorization: Bearer``) or the user id in the
signed session cookie, resolved once per request; and from which address.

A session names its user and the user's session generation at sign-in; raising the generation
(sign out everywhere, a new password, deactivation) ends every session made before. A token
acts as its user, and a read-only token may only read.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar import Request
from litestar.types import Scope

from training.accounts.models import TokenScope, User
from training.accounts.tokens import TokenService
from training.errors import PermissionDeniedError
from web.state import Services

SESSION_USER = "user_id"
SESSION_GENERATION = "generation"
SESSION_COOKIE = "session"  # the cookie backend's name (it adds -0, -1… for long sessions)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FOUND_USER = "clinicast_user"  # on request.state, once the caller has been resolved


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            if kind.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def has_session_cookie(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                cookie = part.split("=", 1)[0].strip()
                if cookie == SESSION_COOKIE or cookie.startswith(SESSION_COOKIE + "-"):
                    return True
    return False


def start_session(request: Request[Any, Any, Any], user: User) -> None:
    """Sign ``user`` in on this browser."""
    request.set_session({SESSION_USER: user.id, SESSION_GENERATION: user.session_generation})


def current_user(request: Request[Any, Any, Any], services: Services) -> User | None:
    """The signed-in, active user, read once per request (the locale hook and the handler
    both ask). A read-only token on a request that writes: PermissionDeniedError."""
    if _FOUND_USER in request.state:
        return known_user(request)
    token = bearer_token(request.scope)
    user = _token_user(request, services, token) if token else _session_user(request, services)
    request.state[_FOUND_USER] = user
    return user


def _token_user(request: Request[Any, Any, Any], services: Services, token: str) -> User | None:
    with services.sessions() as session:
        found = TokenService(session).authenticate(token)
        if found is None:
            return None
        user, api_token = found
        session.expunge(user)
    if api_token.scope is TokenScope.READ and request.method not in SAFE_METHODS:
        request.state[_FOUND_USER] = None
        raise PermissionDeniedError("this token may only read")
    return user


def _session_user(request: Request[Any, Any, Any], services: Services) -> User | None:
    data = request.session if "session" in request.scope else {}
    user_id, generation = data.get(SESSION_USER), data.get(SESSION_GENERATION)
    if not isinstance(user_id, int) or not isinstance(generation, int):
        return None  # also sessions made before generations existed: sign in again
    with services.sessions() as session:
        found = session.get(User, user_id)
        if found is None or not found.is_active or found.session_generation != generation:
            return None
        session.expunge(found)
        return found


def known_user(request: Request[Any, Any, Any]) -> User | None:
    """The user this request was already found to be, without asking the database: for error
    pages, which must render even when the database is what failed."""
    known: User | None = request.state.get(_FOUND_USER)
    return known


def client_address(peer: str | None, forwarded_for: str | None, trusted: list[str]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the last
    address in ``X-Forwarded-For`` that is not itself a trusted proxy (the ones before it
    are whatever the client chose to write)."""
    networks = [ipaddress.ip_network(entry, strict=False) for entry in trusted]

    def is_trusted(address: str) -> bool:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in networks)

    address = peer or "unknown"
    if not is_trusted(address) or not forwarded_for:
        return address
    for hop in reversed([hop.strip() for hop in forwarded_for.split(",") if hop.strip()]):
        address = hop
        if not is_trusted(hop):
            break
    return address
