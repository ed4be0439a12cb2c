"""The clinic tree."""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Field, SQLModel

from training.base import str_enum

ID_MAX = 2**31 - 1
"""The largest id a table's key can hold (a 32-bit integer on PostgreSQL): a larger one, from a
URL or a request, names nothing."""


class ClinicLevel(StrEnum):
    """Where a clinic stands in the county medical community."""

    COUNTY = "county"
    TOWNSHIP = "township"
    VILLAGE = "village"


class ClinicKind(StrEnum):
    """What sort of institution a clinic is; the level says where it stands."""

    BUREAU = "bureau"  # the county health bureau: the root of a county's tree
    HOSPITAL = "hospital"
    CDC = "cdc"
    EMERGENCY = "emergency"
    TOWNSHIP_CENTRE = "township_centre"
    VILLAGE_CLINIC = "village_clinic"


class Clinic(SQLModel, table=True):
    """A node of the tree. ``path`` is the materialised path of ids (``/1/4/27/``), so a whole
    subtree is one indexed prefix query on SQLite and PostgreSQL alike."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    level: ClinicLevel = Field(sa_type=str_enum(ClinicLevel))
    kind: ClinicKind = Field(sa_type=str_enum(ClinicKind))
    region_code: str = Field(max_length=12, unique=True, index=True)
    parent_id: int | None = Field(default=None, foreign_key="clinic.id", index=True)
    path: str = Field(default="", max_length=400, index=True)
    bandwidth_kbps: int = Field(default=1000, ge=0)
