"""Users and roles."""

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
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
