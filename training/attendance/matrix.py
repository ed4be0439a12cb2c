"""The period matrix, pure: lectures × clinics, each clinic's own attendance and, for a clinic
with clinics below it (a township, the county), the roll-up of those below — how many of them
attended each lecture — and the share of mandatory lectures attended.

``build_matrix`` gets everything already loaded (the clinics in view, each lecture's audience
as clinic ids, the accounting figures) and does no I/O, so the rules can be read in one place
and the 100 lectures × 304 clinics of a term cost one pass over the cells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from training.attendance.services import LectureFigures
from training.clinics.models import Clinic, ClinicLevel


@dataclass(frozen=True)
class MatrixLecture:
    """A column: one lecture of the period, with its attendance within the viewer's view."""

    lecture_id: int
    title: str
    day: date  # in the county's time zone
    mandatory: bool
    audience: int  # clinics of the audience in view
    attended: int  # of those, how many attended

    @property
    def share(self) -> float:
        return self.attended / self.audience if self.audience else 0.0


@dataclass(frozen=True)
class MatrixCell:
    """A clinic's own attendance of one lecture (only where the clinic is in its audience)."""

    attended: bool
    watched_s: float
    head_count: int


@dataclass(frozen=True)
class RollUp:
    """The clinics below a clinic, for one lecture (or over the period): of ``clinics`` in
    the audience, ``attended`` attended."""

    clinics: int
    attended: int

    @property
    def share(self) -> float:
        return self.attended / self.clinics if self.clinics else 0.0


@dataclass(frozen=True)
class MatrixRow:
    clinic_id: int
    name: str
    level: ClinicLevel
    region_code: str
    depth: int  # 0 for the topmost clinics in view
    cells: tuple[MatrixCell | None, ...]  # per lecture; None: not in its audience
    below: tuple[RollUp | None, ...] | None  # per lecture; None for a clinic with none below
    mandatory: RollUp | None  # own mandatory lectures attended (clinics=lectures here)
    below_mandatory: RollUp | None  # (clinic, mandatory lecture) pairs below, attended


@dataclass(frozen=True)
class PeriodMatrix:
    first_day: date
    last_day: date
    timezone: str
    lectures: tuple[MatrixLecture, ...]
    rows: tuple[MatrixRow, ...]

    def groups(self) -> list[tuple[MatrixRow, RollUp]]:
        """The rows to chart "by township": the townships in view with the (clinic, lecture)
        pairs of their own subtree attended; without townships in view (a township's own
        coordinator), each clinic in view with its own."""
        townships = [row for row in self.rows if row.level is ClinicLevel.TOWNSHIP]
        found = []
        for row in townships or self.rows:
            pairs = [cell for cell in row.cells if cell is not None]
            below = [roll for roll in row.below or () if roll is not None]
            clinics = len(pairs) + sum(roll.clinics for roll in below)
            attended = sum(cell.attended for cell in pairs) + sum(r.attended for r in below)
            found.append((row, RollUp(clinics, attended)))
        return found


@dataclass(frozen=True)
class MatrixLectureInput:
    """What ``build_matrix`` needs of a lecture."""

    lecture_id: int
    title: str
    day: date
    mandatory: bool
    audience: frozenset[int]  # clinic ids, expanded (subtrees included)


def ancestor_ids(clinic: Clinic) -> list[int]:
    """The ids on ``clinic``'s path above it, root first (``/1/4/27/`` → [1, 4])."""
    return [int(part) for part in clinic.path.strip("/").split("/")[:-1] if part]


def build_matrix(
    first_day: date,
    last_day: date,
    timezone: str,
    *,
    clinics: Sequence[Clinic],
    lectures: Sequence[MatrixLectureInput],
    figures: Mapping[int, LectureFigures],
) -> PeriodMatrix:
    """The matrix of ``lectures`` (in order) × ``clinics`` (the clinics in view, in tree
    order). A clinic's roll-up counts every clinic in view below it, at any depth."""
    in_view = {clinic.id: clinic for clinic in clinics if clinic.id is not None}
    above = {cid: [a for a in ancestor_ids(c) if a in in_view] for cid, c in in_view.items()}
    cells: dict[int, list[MatrixCell | None]] = {cid: [] for cid in in_view}
    below: dict[int, list[list[int]]] = {cid: [] for cid in in_view}  # [clinics, attended]
    columns: list[MatrixLecture] = []
    for lecture in lectures:
        found = figures.get(lecture.lecture_id)
        audience = attended = 0
        for cid in in_view:
            below[cid].append([0, 0])
        for cid in in_view:
            if cid not in lecture.audience:
                cells[cid].append(None)
                continue
            clinic_figures = found.clinics.get(cid) if found else None
            cell = MatrixCell(
                attended=bool(clinic_figures and clinic_figures.attended),
                watched_s=clinic_figures.watched_s if clinic_figures else 0.0,
                head_count=clinic_figures.head_count if clinic_figures else 0,
            )
            cells[cid].append(cell)
            audience += 1
            attended += cell.attended
            for ancestor in above[cid]:
                below[ancestor][-1][0] += 1
                below[ancestor][-1][1] += cell.attended
        columns.append(
            MatrixLecture(
                lecture.lecture_id,
                lecture.title,
                lecture.day,
                lecture.mandatory,
                audience,
                attended,
            )
        )
    required = [lecture.mandatory for lecture in lectures]
    has_below = {a for ancestors in above.values() for a in ancestors}
    top = min((len(ids) for ids in above.values()), default=0)
    rows = tuple(
        _row(
            clinic,
            len(above[cid]) - top,
            cells[cid],
            below[cid] if cid in has_below else None,
            required,
        )
        for cid, clinic in in_view.items()
    )
    return PeriodMatrix(first_day, last_day, timezone, tuple(columns), rows)


def _row(
    clinic: Clinic,
    depth: int,
    cells: list[MatrixCell | None],
    below: list[list[int]] | None,
    mandatory: list[bool],
) -> MatrixRow:
    own = [cell for cell, required in zip(cells, mandatory, strict=True) if required and cell]
    rolled = None
    below_mandatory = None
    if below is not None:
        rolled = tuple(RollUp(n, k) if n else None for n, k in below)
        required_below = [pair for pair, required in zip(below, mandatory, strict=True) if required]
        below_mandatory = RollUp(
            sum(n for n, _ in required_below), sum(k for _, k in required_below)
        )
    assert clinic.id is not None
    return MatrixRow(
        clinic_id=clinic.id,
        name=clinic.name,
        level=clinic.level,
        region_code=clinic.region_code,
        depth=depth,
        cells=tuple(cells),
        below=rolled,
        mandatory=RollUp(len(own), sum(cell.attended for cell in own)) if own else None,
        below_mandatory=below_mandatory if below_mandatory and below_mandatory.clinics else None,
    )
