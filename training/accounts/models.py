"""Users and roles, their API tokens, and the sign-in back-off."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Column, Field, SQLModel

from training.base import UTCDateTime, str_enum, utcnow


class Role(StrEnum):
    """What a user may do.

    - admin: everything.
    - coordinator: sees the clinics of one subtree (``clinic_id`` is its root) and their reports.
    - specialist: schedules and gives lectures (``clinic_id``: the hospital, optional).
    - doctor: watches the lectures whose audience holds their clinic (``clinic_id``).
    """

    ADMIN = "admin"
    COORDINATOR = "coordinator"
    SPECIALIST = "specialist"
    DOCTOR = "doctor"


CLINIC_REQUIRED = frozenset({Role.COORDINATOR, Role.DOCTOR})


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=80, unique=True, index=True)
    display_name: str = Field(max_length=200)
    password_hash: str = Field(max_length=255)
    role: Role = Field(sa_type=str_enum(Role))
    clinic_id: int | None = Field(default=None, foreign_key="clinic.id", index=True)
    locale: str = Field(default="zh-CN", max_length=16)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    is_active: bool = True
    # Put in the session cookie at sign-in and compared on every request: raising it ends every
    # session the user has (sign out everywhere, a new password, deactivation).
    session_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class TokenScope(StrEnum):
    """What a personal access token may do: read (GET, HEAD, OPTIONS) or everything its user
    may."""

    READ = "read"
    WRITE = "write"


class ApiToken(SQLModel, table=True):
    """A personal access token: ``clc_<prefix>_<secret>``, stored as its SHA-256 hash and found
    by its prefix; the token itself is shown once."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=80)
    prefix: str = Field(max_length=16, unique=True)
    token_hash: str = Field(max_length=64)
    scope: TokenScope = Field(sa_type=str_enum(TokenScope))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class SignInBackoff(SQLModel, table=True):
    """Failed sign-ins of one account (``account:<username>``) or one client address
    (``address:<ip>``): the next attempt waits longer after each failure."""

    __tablename__ = "sign_in_backoff"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=160, unique=True)
    failures: int = 0
    last_failure_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
