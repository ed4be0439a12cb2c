"""Attendance reports, and who may see what of them.

The rules, written once here for the API, the pages and the exports alike:

- an admin sees every clinic, with the doctors who watched;
- a coordinator sees the clinics of their own subtree only (``Clinic.path`` prefix of their
  clinic), with the doctors who watched, for the lectures they may see;
- a specialist sees the attendance of their own lectures as counts per clinic, never the names
  of doctors;
- every user sees their own training record; a doctor's coordinator and admins see it too;
- anything else is ``PermissionDeniedError``.

Every figure comes from ``AttendanceAccounting``; this module only selects, orders and sums.
"""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session

from training.accounts.models import Role, User
from training.attendance.matrix import MatrixLectureInput, PeriodMatrix, build_matrix
from training.attendance.report_queries import ReportQueries, moment
from training.attendance.report_types import (
    ClinicHistory,
    DoctorLine,
    LectureReport,
    NowReport,
    Period,
    RecordLine,
    ReportScope,
    TrainingRecord,
    clinic_history,
    clinic_line,
    history_line,
    lecture_totals,
    now_clinics,
)
from training.attendance.services import AttendanceAccounting, LectureFigures
from training.base import utcnow
from training.clinics.services import ClinicService
from training.errors import PermissionDeniedError, UserNotFound
from training.lectures.models import Lecture, LectureStatus
from training.lectures.services import LectureService


def may_see_reports(user: User) -> bool:
    """Admins and coordinators: the attendance index, clinics and the period matrix."""
    return user.role is Role.ADMIN or (user.role is Role.COORDINATOR and user.clinic_id is not None)


def may_see_lecture_report(user: User, lecture: Lecture) -> bool:
    """Who is offered a lecture's attendance (a coordinator still sees only their subtree)."""
    return may_see_reports(user) or (user.id is not None and user.id == lecture.specialist_id)


class AttendanceReports:
    """The reports, read through one session; ``timezone`` is the county's, in which periods
    are whole days and the matrix dates its lectures."""

    def __init__(self, session: Session, timezone: str = "Asia/Shanghai") -> None:
        self.session = session
        self.timezone = timezone
        self.accounting = AttendanceAccounting(session)
        self.clinics = ClinicService(session)
        self.lectures = LectureService(session)
        self.queries = ReportQueries(session)

    # --- who sees what --------------------------------------------------------------------

    def lecture_scope(self, user: User, lecture_id: int) -> tuple[Lecture, ReportScope]:
        """The lecture and what ``user`` may see of its attendance; PermissionDeniedError
        (or LectureNotFound) otherwise."""
        lecture = self.lectures.get(lecture_id)
        if user.role is Role.ADMIN:
            return lecture, ReportScope(None, names_doctors=True)
        if user.role is Role.COORDINATOR:
            self.lectures.get_for(user, lecture_id)  # NotInAudience for a lecture not theirs
            return lecture, self.area_scope(user)
        if user.id is not None and user.id == lecture.specialist_id:
            return lecture, ReportScope(None, names_doctors=False)
        raise PermissionDeniedError(
            "attendance is reported to coordinators, admins and the lecture's specialist"
        )

    def area_scope(self, user: User) -> ReportScope:
        """What ``user`` sees of clinics and periods: everything (admins), their subtree
        (coordinators); PermissionDeniedError for anyone else."""
        if user.role is Role.ADMIN:
            return ReportScope(None, names_doctors=True)
        if user.role is Role.COORDINATOR and user.clinic_id is not None:
            return ReportScope((self.clinics.get(user.clinic_id).path,), names_doctors=True)
        raise PermissionDeniedError("attendance reports are for coordinators and admins")

    def _check_record_access(self, user: User, doctor: User | None) -> User:
        if doctor is not None and (user.id == doctor.id or user.role is Role.ADMIN):
            return doctor
        if user.role is Role.ADMIN:
            raise UserNotFound("no such user")
        if (
            doctor is not None
            and doctor.clinic_id is not None
            and user.role is Role.COORDINATOR
            and self.area_scope(user).covers(self.clinics.get(doctor.clinic_id))
        ):
            return doctor
        # An unknown id is refused like someone else's: ids must not be probed.
        raise PermissionDeniedError(
            "a training record is for the doctor, their coordinator and admins"
        )

    # --- reports --------------------------------------------------------------------------

    def lecture(self, user: User, lecture_id: int) -> LectureReport:
        """One lecture: its audience's clinics in view, absent first, with minutes live and
        on demand, head count, share and quality of experience, and the totals."""
        lecture, scope = self.lecture_scope(user, lecture_id)
        everything = self.clinics.all()
        audience = self.queries.audiences([lecture_id], everything)[lecture_id]
        names = {clinic.id: clinic.name for clinic in everything}
        figures = self.accounting.lecture_figures(lecture_id)
        doctors = self._doctors(figures) if scope.names_doctors else {}
        lines = [
            clinic_line(
                clinic,
                names.get(clinic.parent_id, "") if clinic.parent_id else "",
                figures.clinics.get(clinic.id or 0),
                doctors.get(clinic.id or 0, []),
            )
            for clinic in everything
            if clinic.id in audience and scope.covers(clinic)
        ]
        lines.sort(key=lambda line: line.attended)  # stable: absent first, tree order within
        return LectureReport(
            lecture_id=lecture_id,
            title=lecture.title,
            status=lecture.status.value,
            scheduled_start=lecture.scheduled_start,
            mandatory=lecture.mandatory,
            attendance_share=lecture.attendance_share,
            length_s=figures.length_s,
            names_doctors=scope.names_doctors,
            clinics=tuple(lines),
            totals=lecture_totals(lines),
        )

    def watching_now(self, user: User, lecture_id: int, within_s: float = 45) -> NowReport:
        """Who is watching the lecture now, per clinic in view (heard from in ``within_s``)."""
        lecture, scope = self.lecture_scope(user, lecture_id)
        sessions = self.accounting.watching_now(lecture_id, within_s)
        found = self.queries.clinics_by_id(s.clinic_id for s in sessions if s.clinic_id)
        clinics = sorted((c for c in found if scope.covers(c)), key=lambda c: c.path)
        lines = now_clinics(sessions, clinics)
        return NowReport(
            lecture_id=lecture_id,
            live=lecture.status is LectureStatus.LIVE,
            as_of=utcnow(),
            clinics=lines,
            sessions=sum(line.sessions for line in lines),
            head_count=sum(line.head_count for line in lines),
        )

    def clinic_history(self, user: User, clinic_id: int) -> ClinicHistory:
        """A clinic's lectures (those whose audience holds it) that have begun, newest
        first, attended or not, with minutes watched."""
        scope = self.area_scope(user)
        clinic = self.clinics.get(clinic_id)
        if not scope.covers(clinic):
            raise PermissionDeniedError(f"clinic {clinic_id} is outside your clinics")
        lectures = self.queries.lectures_for_clinic(clinic, before=utcnow())
        figures = self.accounting.lectures_figures(lecture.id or 0 for lecture in lectures)
        lines = []
        for lecture in lectures:
            found = figures.get(lecture.id or 0)
            own = found.clinics.get(clinic_id) if found else None
            lines.append(history_line(lecture, moment(lecture), own))
        return clinic_history(clinic, lines)

    def matrix(self, user: User, period: Period, within: int | None = None) -> PeriodMatrix:
        """The period's lectures that have begun × the clinics in view (only the subtree of
        clinic ``within``, when given), with roll-ups up the tree; a lecture none of whose
        audience is in view is left out."""
        scope = self.area_scope(user)
        if within is not None:
            root = self.clinics.get(within)
            if not scope.covers(root):
                raise PermissionDeniedError(f"clinic {within} is outside your clinics")
            scope = ReportScope((root.path,), scope.names_doctors)
        everything = self.clinics.all()
        shown = [clinic for clinic in everything if scope.covers(clinic)]
        start, end = period.bounds(self.timezone)
        lectures = self.queries.lectures_between(start, min(end, utcnow()))
        audiences = self.queries.audiences([lecture.id or 0 for lecture in lectures], everything)
        shown_ids = {clinic.id for clinic in shown}
        inputs = [
            MatrixLectureInput(
                lecture_id=lecture.id or 0,
                title=lecture.title,
                day=period.local_day(moment(lecture), self.timezone),
                mandatory=lecture.mandatory,
                audience=audiences[lecture.id or 0],
            )
            for lecture in lectures
            if audiences[lecture.id or 0] & shown_ids
        ]
        figures = self.accounting.lectures_figures(item.lecture_id for item in inputs)
        return build_matrix(
            period.first_day,
            period.last_day,
            self.timezone,
            clinics=shown,
            lectures=inputs,
            figures=figures,
        )

    def training_record(self, user: User, doctor_id: int) -> TrainingRecord:
        """The hours ``doctor_id`` watched, lecture by lecture, in the order first watched."""
        doctor = self._check_record_access(user, self.session.get(User, doctor_id))
        record = self.accounting.user_record(doctor_id)
        lectures = self.queries.lectures_by_id(line.lecture_id for line in record)
        lines = tuple(
            RecordLine(
                lecture_id=line.lecture_id,
                title=line.title,
                scheduled_start=moment(lectures[line.lecture_id])
                if line.lecture_id in lectures
                else None,
                mandatory=line.lecture_id in lectures and lectures[line.lecture_id].mandatory,
                watched_s=line.watched_s,
                live_s=line.live_s,
                vod_s=line.vod_s,
                hours=line.hours,
            )
            for line in record
        )
        clinic = self.clinics.get(doctor.clinic_id) if doctor.clinic_id else None
        return TrainingRecord(
            user_id=doctor_id,
            display_name=doctor.display_name,
            clinic_name=clinic.name if clinic else "",
            lectures=lines,
            hours=sum(line.hours for line in lines),
        )

    def _doctors(self, figures: LectureFigures) -> dict[int, list[DoctorLine]]:
        """clinic id → the doctors who watched from it, most minutes first."""
        names = self.queries.display_names(figures.users)
        found: dict[int, list[DoctorLine]] = defaultdict(list)
        for user in sorted(figures.users.values(), key=lambda user: -user.watched_s):
            if user.clinic_id is not None:
                found[user.clinic_id].append(
                    DoctorLine(
                        user.user_id,
                        names.get(user.user_id, ""),
                        user.watched_s,
                        user.live_s,
                        user.vod_s,
                        user.head_count,
                    )
                )
        return found
