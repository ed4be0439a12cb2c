"""What a handler receives by naming a parameter (Litestar's dependency injection):

- ``services: AppServices``: the portal's long-lived parts (settings, blob store, broker);
- ``session: DbSession``: one database session for the request;
- ``user: SignedInUser``: the caller (session cookie or bearer token, ``web.auth``), or 401
  (pages turn that into the sign-in page);
- ``visitor: Visitor``: the signed-in user, or None on pages anyone may open.

The session connects at its first query and is closed once the response is built, which rolls
back whatever was not committed: a handler that writes commits where its work is done, so jobs
announced after a commit never wait for a template, and an error leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import anyio.to_thread
from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException
from sqlmodel import Session

from training.accounts.models import User
from web.auth import current_user
from web.state import Services

AppServices: TypeAlias = NamedDependency[Services]
DbSession: TypeAlias = NamedDependency[Session]
SignedInUser: TypeAlias = NamedDependency[User]
Visitor: TypeAlias = NamedDependency[User | None]


async def provide_session(services: AppServices) -> AsyncIterator[Session]:
    session = services.sessions()
    try:
        yield session
    finally:
        # Closing may talk to the database (a rollback): not on the event loop.
        await anyio.to_thread.run_sync(session.close)


def provide_user(request: Request[Any, Any, Any], services: AppServices) -> User:
    user = current_user(request, services)
    if user is None:
        raise NotAuthorizedException("sign in first")
    return user


def provide_visitor(request: Request[Any, Any, Any], services: AppServices) -> User | None:
    return current_user(request, services)


def dependencies(services: Services) -> dict[str, Provide]:
    """The app-wide providers, ``services`` being the portal's own."""

    def provide_services() -> Services:
        return services

    return {
        "services": Provide(provide_services, sync_to_thread=False),
        "session": Provide(provide_session),
        # The user is usually cached on the request already (the locale hook asked); when it
        # is not, reading it is a query: in a worker thread.
        "user": Provide(provide_user, sync_to_thread=True),
        "visitor": Provide(provide_visitor, sync_to_thread=True),
    }
