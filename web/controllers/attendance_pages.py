"""Attendance pages (``/attendance/…``): the period matrix with its charts for coordinators
and admins, a lecture's present and absent clinics with "watching now", a clinic's history and
a doctor's training record. The same rules as the API (``training.attendance.reports``); a
refusal is the error page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, get
from litestar.params import FromPath
from litestar.response import Template

from training.attendance.matrix import PeriodMatrix
from training.attendance.reports import may_see_reports
from web.controllers.attendance_reports import (
    AttendanceReportsApi,
    FromDate,
    ToDate,
    Within,
    period_of,
    reports_for,
)
from web.deps import AppServices, DbSession, SignedInUser
from web.errors import PAGE_ERRORS

PAGE_CELLS = 5_000


def chart_data(matrix: PeriodMatrix) -> dict[str, Any]:
    """What attendance.js draws: the share of the audience (in view) that attended each
    lecture, in time order, and the share of (clinic, lecture) pairs attended per township."""
    return {
        "over_time": [
            {"day": lecture.day.isoformat(), "title": lecture.title,
             "mandatory": lecture.mandatory, "share": round(lecture.share * 100, 1),
             "attended": lecture.attended, "audience": lecture.audience}
            for lecture in matrix.lectures
        ],
        "by_township": [
            {"name": row.name, "share": round(roll.share * 100, 1),
             "attended": roll.attended, "pairs": roll.clinics}
            for row, roll in matrix.groups()
            if roll.clinics
        ],
    }  # fmt: skip


class AttendancePages(Controller):
    path = "/attendance"
    exception_handlers = PAGE_ERRORS

    @get("/", name="attendance", sync_to_thread=True)
    def index(
        self,
        *,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        first: FromDate = None,
        last: ToDate = None,
        within: Within = None,
    ) -> Template:
        """The period's matrix (lectures × clinics, townships rolled up), charts, downloads;
        ``within``: one clinic's subtree only."""
        period = period_of(services, first, last)
        matrix = reports_for(services, session).matrix(user, period, within)
        days = {"from": period.first_day.isoformat(), "to": period.last_day.isoformat()}
        query = urlencode({**days, **({"within": within} if within else {})})
        api = AttendanceReportsApi.path
        return Template(
            "attendance/index.html",
            context={
                "user": user,
                "matrix": matrix,
                "chart": chart_data(matrix),
                "downloads": {
                    "csv": f"{api}/matrix.csv?{query}",
                    "xlsx": f"{api}/matrix.xlsx?{query}",
                },
                "period_query": urlencode(days),
                "within": within,
                # A county's term is some 30,000 cells: then the page shows the clinics with
                # clinics below (their roll-ups), each opening its own subtree.
                "compact": len(matrix.rows) * len(matrix.lectures) > PAGE_CELLS,
                "timezone": services.settings.web.timezone,
            },
        )

    @get("/lectures/{lecture_id:int}", name="attendance_lecture", sync_to_thread=True)
    def lecture(
        self,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
    ) -> Template:
        """Present and absent clinics, quality of experience, and who is watching now."""
        report = reports_for(services, session).lecture(user, lecture_id)
        api = f"{AttendanceReportsApi.path}/lectures/{lecture_id}"
        return Template(
            "attendance/lecture.html",
            context={
                "user": user,
                "report": report,
                "links_clinics": may_see_reports(user),
                "api": api,
                "timezone": services.settings.web.timezone,
            },
        )

    @get("/clinics/{clinic_id:int}", name="attendance_clinic", sync_to_thread=True)
    def clinic(
        self,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        clinic_id: FromPath[int],
    ) -> Template:
        """A clinic's lectures, attended or not."""
        history = reports_for(services, session).clinic_history(user, clinic_id)
        return Template(
            "attendance/clinic.html",
            context={
                "user": user,
                "history": history,
                "timezone": services.settings.web.timezone,
            },
        )

    @get("/users/{user_id:int}/record", name="attendance_record", sync_to_thread=True)
    def record(
        self, services: AppServices, session: DbSession, user: SignedInUser, user_id: FromPath[int]
    ) -> Template:
        """A doctor's training record: hours per lecture."""
        record = reports_for(services, session).training_record(user, user_id)
        return Template(
            "attendance/record.html",
            context={
                "user": user,
                "record": record,
                "own": user.id == user_id,
                "timezone": services.settings.web.timezone,
            },
        )
