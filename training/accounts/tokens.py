"""Personal access tokens: for scripts and integrations that call ``/api/v1`` without a browser.

A token reads ``clc_<prefix>_<secret>``. Only the prefix (to find the row) and the SHA-256 hash
of the whole token are stored: a copy of the database gives no usable token. A plain hash is
enough, unlike for passwords, because the secret is 256 random bits, not something a person
chose.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from training.accounts.models import ApiToken, TokenScope, User
from training.base import utcnow
from training.errors import NotFoundError, ValidationError

TOKEN_PREFIX = "clc_"  # noqa: S105 - the marker every token starts with, not a secret
LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write a minute for a busy script
MAX_TOKENS_PER_USER = 20


class TokenNotFound(NotFoundError):
    pass


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: ``secret`` is the only time the whole token is known."""

    token: ApiToken
    secret: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _split(token: str) -> str | None:
    """The lookup prefix of a well-formed token, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    prefix, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or len(prefix) != 8 or len(secret) < 32:
        return None
    return prefix


class TokenService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def of(self, user_id: int) -> list[ApiToken]:
        """The user's tokens, newest first."""
        query = select(ApiToken).where(ApiToken.user_id == user_id)
        return list(self.session.exec(query.order_by(col(ApiToken.id).desc())))

    def issue(self, user: User, name: str, scope: TokenScope) -> IssuedToken:
        """A new token for ``user``; the caller shows ``secret`` once and forgets it."""
        name = name.strip()
        if not 1 <= len(name) <= 80:
            raise ValidationError("token name: 1–80 characters")
        assert user.id is not None
        if len(self.of(user.id)) >= MAX_TOKENS_PER_USER:
            raise ValidationError(f"at most {MAX_TOKENS_PER_USER} tokens: revoke one first")
        prefix = secrets.token_hex(4)
        secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        token = ApiToken(
            user_id=user.id, name=name, prefix=prefix, token_hash=_hash(secret), scope=scope
        )
        self.session.add(token)
        self.session.flush()
        return IssuedToken(token, secret)

    def revoke(self, user_id: int, token_id: int) -> None:
        """Delete one of the user's tokens (another user's token is not found)."""
        token = self.session.get(ApiToken, token_id) if 0 < token_id < 2**63 else None
        if token is None or token.user_id != user_id:
            raise TokenNotFound(f"no token with id {token_id}")
        self.session.delete(token)
        self.session.flush()

    def authenticate(
        self, presented: str, now: datetime | None = None
    ) -> tuple[User, ApiToken] | None:
        """The active user and token that ``presented`` belongs to, or None. Records the use,
        at most once a minute per token."""
        prefix = _split(presented)
        if prefix is None:
            return None
        token = self.session.exec(select(ApiToken).where(ApiToken.prefix == prefix)).first()
        if token is None or not hmac.compare_digest(token.token_hash, _hash(presented)):
            return None
        user = self.session.get(User, token.user_id)
        if user is None or not user.is_active:
            return None
        self._record_use(token, now or utcnow())
        return user, token

    def _record_use(self, token: ApiToken, now: datetime) -> None:
        stale = now - LAST_USED_RESOLUTION
        if token.last_used_at is not None and token.last_used_at > stale:
            return
        # Conditional: of several requests in the same minute, one writes.
        self.session.execute(
            update(ApiToken)
            .where(col(ApiToken.id) == token.id)
            .where(or_(col(ApiToken.last_used_at).is_(None), col(ApiToken.last_used_at) <= stale))
            .values(last_used_at=now)
        )
        self.session.commit()
        token.last_used_at = now
