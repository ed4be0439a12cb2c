"""The reads the attendance reports make besides the accounting figures: which lectures a
period or a clinic holds, each lecture's audience expanded to clinic ids, doctors' names. SQL
lives here so ``reports.py`` reads as the rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from training.accounts.models import User
from training.clinics.models import Clinic
from training.errors import ValidationError
from training.lectures.models import Lecture, LectureAudience, LectureStatus

CHUNK = 500  # ids per IN (...)
MAX_LECTURES = 500
NOT_COUNTED = (LectureStatus.DRAFT, LectureStatus.CANCELLED)
"""Lectures without attendance to report: never given, or called off."""


def moment(lecture: Lecture) -> datetime:
    """When a lecture took place: its scheduled start, else when it was created."""
    return lecture.scheduled_start or lecture.created_at


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for offset in range(0, len(ids), CHUNK):
        yield ids[offset : offset + CHUNK]


class ReportQueries:
    def __init__(self, session: Session) -> None:
        self.session = session

    def audiences(
        self, lecture_ids: Sequence[int], clinics: Sequence[Clinic]
    ) -> dict[int, frozenset[int]]:
        """lecture id → the ids of every clinic of its audience, subtrees expanded over
        ``clinics`` (the whole tree, as ``ClinicService.all`` gives it)."""
        entries: dict[int, list[LectureAudience]] = {lecture_id: [] for lecture_id in lecture_ids}
        for chunk in _chunks(lecture_ids):
            query = select(LectureAudience).where(col(LectureAudience.lecture_id).in_(chunk))
            for entry in self.session.exec(query):
                entries[entry.lecture_id].append(entry)
        by_id = {clinic.id: clinic for clinic in clinics}
        found = {}
        for lecture_id, chosen in entries.items():
            ids = {entry.clinic_id for entry in chosen}
            roots = tuple(
                by_id[entry.clinic_id].path
                for entry in chosen
                if entry.include_subtree and entry.clinic_id in by_id
            )
            if roots:
                ids.update(c.id for c in clinics if c.id is not None and c.path.startswith(roots))
            found[lecture_id] = frozenset(ids)
        return found

    def display_names(self, user_ids: Iterable[int]) -> dict[int, str]:
        ids = sorted(set(user_ids))
        names: dict[int, str] = {}
        for chunk in _chunks(ids):
            query = select(User.id, User.display_name).where(col(User.id).in_(chunk))
            names.update((user_id, name) for user_id, name in self.session.exec(query) if user_id)
        return names

    def clinics_by_id(self, clinic_ids: Iterable[int]) -> list[Clinic]:
        ids = sorted(set(clinic_ids))
        return list(self.session.exec(select(Clinic).where(col(Clinic.id).in_(ids))))

    def lectures_by_id(self, lecture_ids: Iterable[int]) -> dict[int, Lecture]:
        ids = sorted(set(lecture_ids))
        query = select(Lecture).where(col(Lecture.id).in_(ids))
        return {lecture.id: lecture for lecture in self.session.exec(query) if lecture.id}

    def lectures_between(self, start: datetime, end: datetime) -> list[Lecture]:
        """The lectures that took place in ``[start, end)`` (UTC), oldest first;
        ValidationError past MAX_LECTURES (a shorter period, then)."""
        scheduled = col(Lecture.scheduled_start)
        created = col(Lecture.created_at)
        query = (
            select(Lecture)
            .where(
                col(Lecture.status).not_in(NOT_COUNTED),
                ((scheduled >= start) & (scheduled < end))
                | (scheduled.is_(None) & (created >= start) & (created < end)),
            )
            .limit(MAX_LECTURES + 1)
        )
        lectures = sorted(
            self.session.exec(query), key=lambda lecture: (moment(lecture), lecture.id)
        )
        if len(lectures) > MAX_LECTURES:
            raise ValidationError(
                f"more than {MAX_LECTURES} lectures in the period: choose a shorter one"
            )
        return lectures

    def lectures_for_clinic(self, clinic: Clinic, before: datetime) -> list[Lecture]:
        """The lectures whose audience holds ``clinic`` (itself, or a clinic above it with
        its subtree) that took place before ``before``, newest first (at most MAX_LECTURES)."""
        above = [int(part) for part in clinic.path.strip("/").split("/")[:-1] if part]
        covering = select(LectureAudience.lecture_id).where(
            (col(LectureAudience.clinic_id) == clinic.id)
            | (col(LectureAudience.include_subtree) & col(LectureAudience.clinic_id).in_(above))
        )
        query = (
            select(Lecture)
            .where(col(Lecture.id).in_(covering), col(Lecture.status).not_in(NOT_COUNTED))
            .order_by(col(Lecture.scheduled_start).desc(), col(Lecture.id).desc())
            .limit(MAX_LECTURES)
        )
        return [lecture for lecture in self.session.exec(query) if moment(lecture) < before]
