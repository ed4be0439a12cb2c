"""The signed-in user's own account: the "My account" page (personal access tokens, a new
password, sign out everywhere) and the same under ``/api/v1/me``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template

from training.accounts.models import ApiToken, TokenScope, User
from training.accounts.services import AccountService
from training.accounts.tokens import IssuedToken, TokenService
from training.errors import UserNotFound, ValidationError
from web.auth import start_session
from web.deps import DbSession, SignedInUser
from web.errors import PAGE_ERRORS
from web.forms import FormData, form_text


def token_json(token: ApiToken) -> dict[str, Any]:
    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "scope": token.scope.value,
        "created_at": moment(token.created_at),
        "last_used_at": moment(token.last_used_at),
    }


def _user_id(user: User) -> int:
    if user.id is None:  # a signed-in user is always stored
        raise UserNotFound("the user is not stored")
    return user.id


class AccountPages(Controller):
    path = "/account"
    exception_handlers = PAGE_ERRORS

    @get("/", name="account", sync_to_thread=True)
    def page(self, session: DbSession, user: SignedInUser) -> Template:
        return self._page(session, user, {})

    @post("/tokens", name="account_create_token", sync_to_thread=True)
    def create_token(self, session: DbSession, user: SignedInUser, data: FormData) -> Template:
        """A new token, shown on the page this once."""
        scope = TokenScope.WRITE if form_text(data, "scope") == "write" else TokenScope.READ
        try:
            issued = TokenService(session).issue(user, form_text(data, "name"), scope)
            session.commit()
        except ValidationError as exc:
            session.rollback()
            return self._page(session, user, {"error": str(exc)}, status_code=400)
        return self._page(session, user, {"token": issued.secret, "name": issued.token.name})

    @post("/tokens/{token_id:int}/revoke", name="account_revoke_token", sync_to_thread=True)
    def revoke_token(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        user: SignedInUser,
        token_id: FromPath[int],
    ) -> Redirect:
        TokenService(session).revoke(_user_id(user), token_id)
        session.commit()
        return Redirect(request.app.route_reverse("account"), status_code=303)

    @post("/password", name="account_password", sync_to_thread=True)
    def change_password(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        user: SignedInUser,
        data: FormData,
    ) -> Template:
        """A new password; every other session of the user ends, this one goes on."""
        try:
            changed = AccountService(session).change_password(
                _user_id(user), form_text(data, "current"), form_text(data, "new")
            )
            session.commit()
        except ValidationError as exc:
            session.rollback()
            return self._page(session, user, {"password_error": str(exc)}, status_code=400)
        start_session(request, changed)
        return self._page(session, user, {"password_changed": True})

    @post("/sign-out-everywhere", name="account_end_sessions", sync_to_thread=True)
    def end_sessions(
        self, request: Request[Any, Any, Any], session: DbSession, user: SignedInUser
    ) -> Redirect:
        """End every session of the user, on every browser, this one included."""
        AccountService(session).end_sessions(_user_id(user))
        session.commit()
        request.clear_session()
        return Redirect(request.app.route_reverse("login"), status_code=303)

    def _page(
        self, session: DbSession, user: User, result: dict[str, Any], status_code: int = 200
    ) -> Template:
        return Template(
            "account/account.html",
            context={
                "user": user,
                "tokens": TokenService(session).of(_user_id(user)),
                "result": result,
            },
            status_code=status_code,
        )


@dataclass
class TokenRequest:
    name: str
    scope: TokenScope = TokenScope.READ


class AccountApi(Controller):
    path = "/api/v1/me"
    tags = ["account"]  # noqa: RUF012 - Litestar's declared type for the layer's tags

    @get("/", sync_to_thread=False)
    def me(self, user: SignedInUser) -> dict[str, Any]:
        """Who the caller is (the token's user, or the session's)."""
        return {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role.value,
            "clinic_id": user.clinic_id,
            "locale": user.locale,
            "timezone": user.timezone,
        }

    @get("/tokens", sync_to_thread=True)
    def tokens(self, session: DbSession, user: SignedInUser) -> list[dict[str, Any]]:
        """The caller's personal access tokens (never the tokens themselves)."""
        return [token_json(token) for token in TokenService(session).of(_user_id(user))]

    @post("/tokens", sync_to_thread=True)
    def create_token(
        self, session: DbSession, user: SignedInUser, data: JSONBody[TokenRequest]
    ) -> dict[str, Any]:
        """A new token: ``token`` in the answer is the only time it is shown."""
        issued: IssuedToken = TokenService(session).issue(user, data.name, data.scope)
        session.commit()
        return {**token_json(issued.token), "token": issued.secret}

    @delete("/tokens/{token_id:int}", sync_to_thread=True)
    def revoke_token(self, session: DbSession, user: SignedInUser, token_id: FromPath[int]) -> None:
        """Revoke one of the caller's tokens: it stops working at once."""
        TokenService(session).revoke(_user_id(user), token_id)
        session.commit()
