"""Reading and building the clinic tree."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlmodel import Session, col, select

from training.clinics.models import ID_MAX, Clinic, ClinicKind, ClinicLevel
from training.errors import ClinicNotFound, ValidationError

ROSTER_COLUMNS = ("region_code", "parent_region_code", "name", "level", "kind", "bandwidth_kbps")
NAME_MAX = 200
REGION_CODE_MAX = 12
_CODE = re.compile(r"[0-9A-Za-z]+")
BANDWIDTH_MAX = 100_000_000  # kbit/s: 100 Gbit/s is more than any clinic's link


@dataclass(frozen=True)
class RosterRow:
    """One line of a clinic roster (CSV): a clinic and the region code of its parent."""

    region_code: str
    parent_region_code: str
    name: str
    level: ClinicLevel
    kind: ClinicKind
    bandwidth_kbps: int

    def problem(self) -> str | None:
        """What makes the row unusable (the columns' limits), or None."""
        checks = (
            (bool(self.region_code), "the region code is empty"),
            (len(self.region_code) <= REGION_CODE_MAX, f"a region code has at most {REGION_CODE_MAX} characters"),
            (len(self.parent_region_code) <= REGION_CODE_MAX, f"a parent region code has at most {REGION_CODE_MAX} characters"),
            (_CODE.fullmatch(self.region_code + self.parent_region_code) is not None, "a region code holds only letters and digits"),
            (self.parent_region_code != self.region_code, "a clinic cannot be its own parent"),
            (bool(self.name), "the name is empty"),
            (len(self.name) <= NAME_MAX, f"a name has at most {NAME_MAX} characters"),
            (self.name.isprintable(), "the name holds control characters"),
            (0 <= self.bandwidth_kbps <= BANDWIDTH_MAX, f"the bandwidth is 0 to {BANDWIDTH_MAX} kbit/s"),
        )  # fmt: skip
        return next((message for ok, message in checks if not ok), None)


class RosterSummary(NamedTuple):
    """What an import changed: clinics created, updated in place, and moved to another parent
    (a moved clinic whose name or bandwidth changed too counts once, as moved)."""

    created: int
    updated: int
    moved: int


def read_roster(path: Path, name: str | None = None) -> Iterator[RosterRow]:
    """Parse a roster CSV, raising ValidationError with the line number of a bad row (a file
    that is not UTF-8 text or not CSV is a bad roster too). Messages name the file ``name``
    (by default the path's)."""
    name = name or path.name
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = set(ROSTER_COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise ValidationError(f"{name}: missing columns {', '.join(sorted(missing))}")
            for line, row in enumerate(reader, start=2):
                yield _roster_row(name, line, row)
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{name}: not UTF-8 text (save the roster as CSV UTF-8)") from exc
    except csv.Error as exc:  # a field over the csv module's limit, a NUL byte
        raise ValidationError(f"{name}: not a readable CSV file ({exc})") from exc


def _roster_row(name: str, line: int, row: dict[str | Any, str | Any]) -> RosterRow:
    if None in row or None in row.values():  # csv's restkey and restval: extra or missing cells
        raise ValidationError(f"{name} line {line}: the row does not have the roster's columns")
    try:
        parsed = RosterRow(
            region_code=row["region_code"].strip(),
            parent_region_code=row["parent_region_code"].strip(),
            name=row["name"].strip(),
            level=ClinicLevel(row["level"].strip()),
            kind=ClinicKind(row["kind"].strip()),
            bandwidth_kbps=int(row["bandwidth_kbps"]),
        )
    except (ValueError, KeyError) as exc:
        raise ValidationError(f"{name} line {line}: {exc}") from exc
    problem = parsed.problem()
    if problem:
        raise ValidationError(f"{name} line {line}: {problem}")
    return parsed


@dataclass
class ClinicNode:
    """A clinic with the clinics directly below it: the audience picker and the admin
    summary show the tree, not a flat list."""

    clinic: Clinic
    children: list[ClinicNode] = field(default_factory=list)


def clinic_tree(clinics: Iterable[Clinic]) -> list[ClinicNode]:
    """``clinics`` as a forest, in their order; a clinic whose parent is not among them is a
    root."""
    nodes = {clinic.id: ClinicNode(clinic) for clinic in clinics}
    roots: list[ClinicNode] = []
    for node in nodes.values():
        parent = nodes.get(node.clinic.parent_id)
        (parent.children if parent else roots).append(node)
    return roots


class ClinicService:
    """The clinic tree, read and written through one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, clinic_id: int) -> Clinic:
        clinic = self.session.get(Clinic, clinic_id) if 0 < clinic_id <= ID_MAX else None
        if clinic is None:
            raise ClinicNotFound(f"no clinic with id {clinic_id}")
        return clinic

    def by_region_code(self, region_code: str) -> Clinic | None:
        return self.session.exec(select(Clinic).where(Clinic.region_code == region_code)).first()

    def add(self, clinic: Clinic, parent: Clinic | None = None) -> Clinic:
        """Insert a clinic under ``parent`` (None: a root) and fill in its path."""
        clinic.parent_id = parent.id if parent else None
        self.session.add(clinic)
        self.session.flush()
        clinic.path = f"{parent.path if parent else '/'}{clinic.id}/"
        self.session.add(clinic)
        return clinic

    def all(self) -> list[Clinic]:
        """Every clinic, parents before children (ordered by path)."""
        return list(self.session.exec(select(Clinic).order_by(Clinic.path)))

    def tree(self) -> list[ClinicNode]:
        """Every clinic as a forest, parents before children."""
        return clinic_tree(self.all())

    def subtree(self, root: Clinic) -> list[Clinic]:
        """``root`` and everything below it, ordered by path."""
        query = select(Clinic).where(col(Clinic.path).startswith(root.path)).order_by(Clinic.path)
        return list(self.session.exec(query))

    def subtree_ids(self, root_ids: Iterable[int]) -> set[int]:
        """Every clinic id in the subtrees rooted at ``root_ids``."""
        roots = [self.get(clinic_id) for clinic_id in root_ids]
        ids: set[int] = set()
        for root in roots:
            query = select(Clinic.id).where(col(Clinic.path).startswith(root.path))
            ids.update(clinic_id for clinic_id in self.session.exec(query) if clinic_id)
        return ids

    @staticmethod
    def ancestor_ids(clinic: Clinic) -> list[int]:
        """The ids of the clinics above ``clinic``, root first (read from its path)."""
        return [int(part) for part in clinic.path.strip("/").split("/")[:-1] if part]

    def ancestors(self, clinic: Clinic) -> list[Clinic]:
        """The clinics above ``clinic``, root first."""
        ids = self.ancestor_ids(clinic)
        found = {c.id: c for c in self.session.exec(select(Clinic).where(col(Clinic.id).in_(ids)))}
        return [found[i] for i in ids if i in found]

    def count(self) -> int:
        return len(self.session.exec(select(Clinic.id)).all())

    def import_roster(self, rows: Iterable[RosterRow]) -> RosterSummary:
        """Insert, update or move clinics from roster rows (parents before children).

        Idempotent: a clinic is matched by its region code, so importing the same roster twice
        changes nothing. A clinic whose parent changed moves there with everything below it;
        a move that would put a clinic under itself is refused (ValidationError).
        """
        created = updated = moved = 0
        for row in rows:
            parent = self.by_region_code(row.parent_region_code) if row.parent_region_code else None
            if row.parent_region_code and parent is None:
                raise ValidationError(
                    f"clinic {row.region_code} ({row.name}): parent {row.parent_region_code} "
                    "is not in the roster above it"
                )
            existing = self.by_region_code(row.region_code)
            if existing is None:
                clinic = Clinic(
                    name=row.name,
                    level=row.level,
                    kind=row.kind,
                    region_code=row.region_code,
                    bandwidth_kbps=row.bandwidth_kbps,
                )
                self.add(clinic, parent)
                created += 1
                continue
            if existing.parent_id != (parent.id if parent else None):
                self.move(existing, parent)
                moved += 1
            elif (existing.name, existing.level, existing.kind, existing.bandwidth_kbps) == (
                row.name,
                row.level,
                row.kind,
                row.bandwidth_kbps,
            ):
                continue
            else:
                updated += 1
            existing.name, existing.level = row.name, row.level
            existing.kind, existing.bandwidth_kbps = row.kind, row.bandwidth_kbps
            self.session.add(existing)
        self.session.flush()
        return RosterSummary(created, updated, moved)

    def move(self, clinic: Clinic, parent: Clinic | None) -> None:
        """Put ``clinic`` and its subtree under ``parent`` (None: make it a root), rewriting
        their paths; ValidationError if ``parent`` is inside the subtree."""
        if parent is not None and parent.path.startswith(clinic.path):
            raise ValidationError(
                f"clinic {clinic.region_code} ({clinic.name}) cannot move under "
                f"{parent.region_code} ({parent.name}): that clinic is below it"
            )
        old = clinic.path
        new = f"{parent.path if parent else '/'}{clinic.id}/"
        for member in self.subtree(clinic):
            member.path = new + member.path[len(old) :]
            self.session.add(member)
        clinic.parent_id = parent.id if parent else None
        self.session.add(clinic)
        self.session.flush()
