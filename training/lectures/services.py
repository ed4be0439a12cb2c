"""Scheduling lectures and deciding who may see them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    column,
    false,
    or_,
    table,
    true,
)
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from training.accounts.models import Role, User
from training.base import utcnow
from training.clinics.models import ID_MAX, Clinic
from training.clinics.services import ClinicService
from training.errors import ClinicNotFound, LectureNotFound, NotInAudience
from training.lectures.models import Lecture, LectureAudience, LectureStatus
from training.lectures.rules import (
    BROADCAST,
    InvalidLecture,
    LectureDraft,
    in_utc,
    require_scheduler,
    require_watchable,
)

MEDIA_READY = "ready"
"""``training.media.models.MediaState.READY``: a recording whose ladder plays."""
MEDIA_ASSET = table(
    "media_asset", column("lecture_id"), column("state"), column("hls_prefix"), column("master")
)
"""The columns of the media area's table the watch rule reads (never writes). Named here, not
imported: media builds on lectures (the layers contract), yet whether the audience may watch a
lecture depends on its recording; a test holds them to ``MediaAsset``."""


def ready_recordings() -> Select[tuple[int]]:
    """The ids of lectures whose recording is READY with a ladder switched in."""
    media = MEDIA_ASSET.c
    ready: BindParameter[str] = bindparam("media_ready", MEDIA_READY, literal_execute=True)
    return sa_select(media.lecture_id).where(
        media.state == ready, media.hls_prefix.is_not(None), media.master.is_not(None)
    )


class LectureIndex(Protocol):
    """Where a scheduled lecture's title, keywords and description become searchable
    (``training.search.services.SearchService``). A port, not an import: search builds on
    lectures (their visibility), so lectures must not import search."""

    def index_metadata(self, lecture: Lecture) -> None: ...


class LectureService:
    """Lectures through one session. ``index`` is needed only to schedule: reading and the
    audience checks work without it."""

    def __init__(self, session: Session, index: LectureIndex | None = None) -> None:
        self.session = session
        self.index = index
        self.clinics = ClinicService(session)

    def schedule(self, specialist: User, draft: LectureDraft) -> Lecture:
        """Create the lecture ``specialist`` gives (flushed and indexed; the caller commits).
        InvalidLecture names every wrong field of ``draft``, including unknown clinics."""
        require_scheduler(specialist)
        if self.index is None:
            raise RuntimeError("scheduling needs LectureService(session, index)")
        draft = draft.checked()
        self._check_audience(draft.audience)
        lecture = self._insert(specialist, draft)
        self.index.index_metadata(lecture)
        return lecture

    def _insert(self, specialist: User, draft: LectureDraft) -> Lecture:
        assert specialist.id is not None
        start = (
            in_utc(draft.scheduled_start, specialist.timezone) if draft.scheduled_start else None
        )
        lecture = Lecture(
            title=draft.title,
            description=draft.description,
            keywords=draft.keywords,
            language=draft.language,
            specialist_id=specialist.id,
            scheduled_start=start,
            duration_minutes=draft.duration_minutes,
            mandatory=draft.mandatory,
            attendance_share=draft.attendance_share,
            status=LectureStatus.SCHEDULED if start else LectureStatus.DRAFT,
        )
        self.session.add(lecture)
        self.session.flush()
        assert lecture.id is not None
        for clinic_id, include_subtree in dict(draft.audience).items():  # a clinic once
            self.session.add(
                LectureAudience(
                    lecture_id=lecture.id, clinic_id=clinic_id, include_subtree=include_subtree
                )
            )
        self.session.flush()
        return lecture

    def _check_audience(self, entries: Sequence[tuple[int, bool]]) -> None:
        """Every clinic of the audience exists: an unknown id is a wrong field of the draft,
        not a missing page."""
        for clinic_id, _ in entries:
            try:
                self.clinics.get(clinic_id)
            except ClinicNotFound as exc:
                raise InvalidLecture({"audience": str(exc)}) from exc

    def get(self, lecture_id: int) -> Lecture:
        # An id beyond the database's integer range is no lecture (not an overflow error).
        lecture = self.session.get(Lecture, lecture_id) if 0 < lecture_id <= ID_MAX else None
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

    def watchable_for(self, user: User, lecture_id: int) -> Lecture:
        """The lecture, if ``user`` may watch it now (``rules.may_watch``): LectureNotFound,
        NotInAudience, or NotWatchable (cancelled, or no playable recording yet) otherwise."""
        lecture = self.get_for(user, lecture_id)
        require_watchable(user, lecture, self.recording_ready(lecture_id))
        return lecture

    def recording_ready(self, lecture_id: int) -> bool:
        """The lecture's recording is READY with its ladder switched in."""
        query = ready_recordings().where(MEDIA_ASSET.c.lecture_id == lecture_id)
        return self.session.execute(query).first() is not None

    def still_watchable(self, user_id: int, lecture_id: int) -> bool:
        """For a signed media URL issued earlier: its user is still active and may still
        watch the lecture. Cheap enough for every playlist fetch: the user and their clinic by
        key, then one query on the lecture's key (audience and recording by their indexes)."""
        user = self.session.get(User, user_id) if 0 < user_id <= ID_MAX else None
        if user is None or not user.is_active or not 0 < lecture_id <= ID_MAX:
            return False
        query = select(Lecture.id).where(Lecture.id == lecture_id, self.watchable_clause(user))
        return self.session.exec(query).first() is not None

    def watchable_clause(self, user: User) -> ColumnElement[bool]:
        """The SQL condition on ``Lecture`` that holds exactly for the lectures ``user`` may
        watch (``rules.may_watch`` in SQL, the audience included): for search hits and signed
        media URLs, filtered in the database."""
        if user.role is Role.ADMIN:
            return true()
        # The statuses as constants in the SQL, as search does: PostgreSQL's generic plan for
        # a prepared statement then still knows how few lectures each leaves in or out.
        status = col(Lecture.status)
        cancelled: BindParameter[LectureStatus] = bindparam(
            "watch_cancelled", LectureStatus.CANCELLED, literal_execute=True
        )
        broadcast: BindParameter[list[LectureStatus]] = bindparam(
            "watch_broadcast", sorted(BROADCAST), expanding=True, literal_execute=True
        )
        open_to_audience = and_(
            status != cancelled,
            or_(status.in_(broadcast), col(Lecture.id).in_(ready_recordings())),
        )
        own = col(Lecture.specialist_id) == user.id
        return or_(own, and_(self._visible_clause(user), open_to_audience))

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
        clinic = self.session.get(Clinic, user.clinic_id)
        if clinic is None:
            return col(Lecture.specialist_id) == user.id
        own = col(Lecture.specialist_id) == user.id if user.role is Role.SPECIALIST else false()
        return or_(own, col(Lecture.id).in_(self._audience_lectures_for(user.role, clinic)))

    def _audience_lectures_for(self, role: Role, clinic: Clinic) -> SelectOfScalar[int]:
        ancestors = self.clinics.ancestor_ids(clinic)
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
