"""Scheduling lectures and deciding who may see them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from training.accounts.models import Role, User
from training.base import utcnow
from training.clinics.models import Clinic
from training.clinics.services import ClinicService
from training.errors import LectureNotFound, NotInAudience, PermissionDeniedError, ValidationError
from training.lectures.models import Language, Lecture, LectureAudience, LectureStatus


class LectureService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.clinics = ClinicService(session)

    def schedule(
        self,
        specialist: User,
        title: str,
        *,
        audience: Sequence[tuple[Clinic, bool]],
        scheduled_start: datetime | None = None,
        description: str = "",
        keywords: str = "",
        language: Language = Language.ZH,
        duration_minutes: int = 60,
        mandatory: bool = False,
        attendance_share: float = 0.5,
    ) -> Lecture:
        """Create a lecture given by ``specialist`` for ``audience``: pairs of a clinic and
        whether its whole subtree is included."""
        if specialist.role not in (Role.SPECIALIST, Role.ADMIN):
            raise PermissionDeniedError("only specialists and admins schedule lectures")
        if not title.strip():
            raise ValidationError("a lecture needs a title")
        if not audience:
            raise ValidationError("a lecture needs an audience of at least one clinic")
        if not 0.0 < attendance_share <= 1.0:
            raise ValidationError(
                "the share of the lecture that counts as attended is above 0 and at most 1"
            )
        assert specialist.id is not None
        lecture = Lecture(
            title=title.strip(),
            description=description,
            keywords=keywords,
            language=language,
            specialist_id=specialist.id,
            scheduled_start=scheduled_start,
            duration_minutes=duration_minutes,
            mandatory=mandatory,
            attendance_share=attendance_share,
            status=LectureStatus.SCHEDULED if scheduled_start else LectureStatus.DRAFT,
        )
        self.session.add(lecture)
        self.session.flush()
        assert lecture.id is not None
        for clinic, include_subtree in audience:
            assert clinic.id is not None
            self.session.add(
                LectureAudience(
                    lecture_id=lecture.id, clinic_id=clinic.id, include_subtree=include_subtree
                )
            )
        self.session.flush()
        # Imported here: search builds on lectures (their visibility), not the other way round.
        from training.search.services import SearchService  # noqa: PLC0415

        SearchService(self.session).index_metadata(lecture)
        return lecture

    def get(self, lecture_id: int) -> Lecture:
        lecture = self.session.get(Lecture, lecture_id)
        if lecture is None:
            raise LectureNotFound(f"no lecture with id {lecture_id}")
        return lecture

    def get_for(self, user: User, lecture_id: int) -> Lecture:
        """The lecture, if ``user`` may see it; NotInAudience otherwise."""
        lecture = self.get(lecture_id)
        visible = self.session.exec(
            select(Lecture.id).where(Lecture.id == lecture_id, self._visible_clause(user))
        ).first()
        if visible is None:
            raise NotInAudience(f"lecture {lecture_id} is not for {user.username}")
        return lecture

    def visible_to(self, user: User, *, limit: int = 100) -> list[Lecture]:
        """The lectures ``user`` may see, soonest or newest first."""
        query = (
            select(Lecture)
            .where(self._visible_clause(user), Lecture.status != LectureStatus.CANCELLED)
            .order_by(col(Lecture.scheduled_start).desc(), col(Lecture.id).desc())
            .limit(limit)
        )
        return list(self.session.exec(query))

    def upcoming(self, user: User, *, now: datetime | None = None) -> list[Lecture]:
        now = now or utcnow()
        return [
            lecture
            for lecture in self.visible_to(user)
            if lecture.scheduled_start and lecture.scheduled_start >= now
        ]

    def audience(self, lecture: Lecture) -> list[LectureAudience]:
        query = select(LectureAudience).where(LectureAudience.lecture_id == lecture.id)
        return list(self.session.exec(query))

    def visible_clause(self, user: User) -> ColumnElement[bool]:
        """The SQL condition on ``Lecture`` that holds exactly for the lectures ``user`` may
        see: for queries elsewhere (search) that must filter in SQL, never after a page of
        results has been cut."""
        return self._visible_clause(user)

    def _visible_clause(self, user: User) -> ColumnElement[bool]:
        if user.role is Role.ADMIN:
            return true()
        if user.clinic_id is None:
            # A specialist without a clinic sees the lectures they give.
            return col(Lecture.specialist_id) == user.id
        clinic = self.clinics.get(user.clinic_id)
        own = col(Lecture.specialist_id) == user.id if user.role is Role.SPECIALIST else false()
        return or_(own, col(Lecture.id).in_(self._audience_lectures_for(user.role, clinic)))

    def _audience_lectures_for(self, role: Role, clinic: Clinic) -> SelectOfScalar[int]:
        ancestors = [c.id for c in self.clinics.ancestors(clinic)]
        covered = or_(
            col(LectureAudience.clinic_id) == clinic.id,
            and_(
                col(LectureAudience.include_subtree), col(LectureAudience.clinic_id).in_(ancestors)
            ),
        )
        if role is Role.COORDINATOR:
            # A coordinator also sees lectures for any clinic inside the subtree they look after.
            inside = col(LectureAudience.clinic_id).in_(
                select(Clinic.id).where(col(Clinic.path).startswith(clinic.path))
            )
            covered = or_(covered, inside)
        return select(LectureAudience.lecture_id).where(covered)
