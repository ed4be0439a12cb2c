"""Creating users and checking passwords."""

from __future__ import annotations

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from training.accounts.models import CLINIC_REQUIRED, Role, User
from training.clinics.models import Clinic
from training.errors import ConflictError, UserNotFound, ValidationError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,80}$")
MIN_PASSWORD_LENGTH = 8


def generate_password() -> str:
    """A password for a new account, shown once to whoever created it."""
    return secrets.token_urlsafe(12)


class AccountService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_username(self, username: str) -> User | None:
        return self.session.exec(select(User).where(User.username == username)).first()

    def list(self) -> list[User]:
        """Every user, by username (the admin's list)."""
        return list(self.session.exec(select(User).order_by(User.username)))

    def get(self, user_id: int) -> User:
        user = self.session.get(User, user_id)
        if user is None:
            raise UserNotFound(f"no user with id {user_id}")
        return user

    def create(
        self,
        username: str,
        password: str,
        role: Role,
        *,
        display_name: str | None = None,
        clinic: Clinic | None = None,
        locale: str = "zh-CN",
    ) -> User:
        """Add a user; the password is stored only as an argon2id hash."""
        if not USERNAME.match(username):
            raise ValidationError(f"username {username!r}: use 2–80 letters, digits or . _ @ -")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
        if role in CLINIC_REQUIRED and clinic is None:
            raise ValidationError(f"a {role.value} belongs to a clinic: give one")
        if self.by_username(username) is not None:
            raise ConflictError(f"username {username!r} is taken")
        user = User(
            username=username,
            display_name=display_name or username,
            password_hash=_hasher.hash(password),
            role=role,
            clinic_id=clinic.id if clinic else None,
            locale=locale,
        )
        self.session.add(user)
        self.session.flush()
        return user

    def set_locale(self, user_id: int, locale: str) -> User:
        """The interface language a user chose (``zh-CN`` or ``en``)."""
        if locale not in ("zh-CN", "en"):
            raise ValidationError(f"unknown interface language {locale!r}")
        user = self.get(user_id)
        user.locale = locale
        self.session.add(user)
        return user

    def end_sessions(self, user_id: int) -> User:
        """Sign the user out everywhere: every session made before now stops working."""
        user = self.get(user_id)
        user.session_generation += 1
        self.session.add(user)
        return user

    def change_password(self, user_id: int, current: str, new: str) -> User:
        """A new password, given the current one; the user's other sessions end."""
        user = self.get(user_id)
        try:
            _hasher.verify(user.password_hash, current)
        except (VerificationError, InvalidHashError):
            raise ValidationError("the current password is wrong") from None
        if len(new) < MIN_PASSWORD_LENGTH:
            raise ValidationError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
        user.password_hash = _hasher.hash(new)
        return self.end_sessions(user_id)

    def set_active(self, user_id: int, active: bool) -> User:
        """Deactivate (or reactivate) an account. Either way its sessions end: a reactivated
        account signs in again rather than finding old sessions alive."""
        user = self.end_sessions(user_id)
        user.is_active = active
        return user

    def authenticate(self, username: str, password: str) -> User | None:
        """The active user with this username and password, or None (never says which was
        wrong). Rehashes the password when the hasher's parameters have grown."""
        user = self.by_username(username)
        if user is None or not user.is_active:
            _hasher.hash(password)  # spend the same time as a real check: no username oracle
            return None
        try:
            _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
            self.session.add(user)
        return user
