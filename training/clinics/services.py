"""Reading and building the clinic tree."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, col, select

from training.clinics.models import Clinic, ClinicKind, ClinicLevel
from training.errors import ClinicNotFound, ValidationError

ROSTER_COLUMNS = ("region_code", "parent_region_code", "name", "level", "kind", "bandwidth_kbps")


@dataclass(frozen=True)
class RosterRow:
    """One line of a clinic roster (CSV): a clinic and the region code of its parent."""

    region_code: str
    parent_region_code: str
    name: str
    level: ClinicLevel
    kind: ClinicKind
    bandwidth_kbps: int


def read_roster(path: Path) -> Iterator[RosterRow]:
    """Parse a roster CSV, raising ValidationError with the line number of a bad row."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = set(ROSTER_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValidationError(f"{path.name}: missing columns {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            try:
                yield RosterRow(
                    region_code=row["region_code"].strip(),
                    parent_region_code=row["parent_region_code"].strip(),
                    name=row["name"].strip(),
                    level=ClinicLevel(row["level"].strip()),
                    kind=ClinicKind(row["kind"].strip()),
                    bandwidth_kbps=int(row["bandwidth_kbps"]),
                )
            except (ValueError, KeyError, AttributeError) as exc:
                raise ValidationError(f"{path.name} line {line}: {exc}") from exc


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
        clinic = self.session.get(Clinic, clinic_id)
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

    def ancestors(self, clinic: Clinic) -> list[Clinic]:
        """The clinics above ``clinic``, root first."""
        ids = [int(part) for part in clinic.path.strip("/").split("/")[:-1] if part]
        found = {c.id: c for c in self.session.exec(select(Clinic).where(col(Clinic.id).in_(ids)))}
        return [found[i] for i in ids if i in found]

    def count(self) -> int:
        return len(self.session.exec(select(Clinic.id)).all())

    def import_roster(self, rows: Iterable[RosterRow]) -> tuple[int, int]:
        """Insert or update clinics from roster rows (parents before children).

        Idempotent: a clinic is matched by its region code, so importing the same roster twice
        changes nothing. Returns (created, updated).
        """
        created = updated = 0
        for row in rows:
            parent = self.by_region_code(row.parent_region_code) if row.parent_region_code else None
            if row.parent_region_code and parent is None:
                raise ValidationError(
                    f"clinic {row.region_code} ({row.name}): parent {row.parent_region_code} "
                    "is not in the roster above it"
                )
            existing = self.by_region_code(row.region_code)
            if existing is None:
                self.add(
                    Clinic(
                        name=row.name,
                        level=row.level,
                        kind=row.kind,
                        region_code=row.region_code,
                        bandwidth_kbps=row.bandwidth_kbps,
                    ),
                    parent,
                )
                created += 1
            elif (existing.name, existing.level, existing.kind, existing.bandwidth_kbps) != (
                row.name,
                row.level,
                row.kind,
                row.bandwidth_kbps,
            ):
                existing.name, existing.level = row.name, row.level
                existing.kind, existing.bandwidth_kbps = row.kind, row.bandwidth_kbps
                self.session.add(existing)
                updated += 1
        self.session.flush()
        return created, updated
