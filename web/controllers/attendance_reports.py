"""Attendance reports in the JSON API (``/api/v1/attendance/…``) and their CSV/XLSX downloads.
Who may see what is the domain's rule (``training.attendance.reports``): a coordinator only
their subtree, a specialist counts of their own lectures, a doctor only their own record; the
domain's PermissionDeniedError is the 403."""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import FromPath, QueryParameter

from infra.http import content_disposition
from training.attendance import exports
from training.attendance.matrix import PeriodMatrix
from training.attendance.report_types import (
    ClinicHistory,
    LectureReport,
    NowReport,
    Period,
    TrainingRecord,
    zone,
)
from training.attendance.reports import AttendanceReports
from training.base import utcnow
from training.clinics.models import ID_MAX
from web import i18n
from web.deps import AppServices, DbSession, SignedInUser

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
FromDate = Annotated[
    str | None,
    QueryParameter(name="from", description="first day, YYYY-MM-DD (county's time zone)"),
]
Within = Annotated[
    int | None,
    QueryParameter(name="within", ge=1, le=ID_MAX, description="only this clinic's subtree"),
]
ToDate = Annotated[
    str | None, QueryParameter(name="to", description="last day, YYYY-MM-DD; default: today")
]


def reports_for(services: AppServices, session: DbSession) -> AttendanceReports:
    """The reports in the county's time zone (``CLINICAST_WEB__TIMEZONE``)."""
    return AttendanceReports(session, services.settings.web.timezone)


def period_of(services: AppServices, first: str | None, last: str | None) -> Period:
    """``from``/``to`` as a period; 400 naming the problem when they are not dates."""
    today = utcnow().astimezone(zone(services.settings.web.timezone)).date()
    return Period.parse(first, last, today)


def translator(request: Request[Any, Any, Any]) -> exports.Translate:
    locale = str(getattr(request.state, "locale", "zh-CN"))
    return lambda text: i18n.translate(text, locale)


def safe_name(text: str) -> str:
    """A title fit for a file name: no path or shell-special characters, at most 60 long."""
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", text).strip(" ._")[:60] or "attendance"


def download(data: bytes, filename: str, media_type: str) -> Response[bytes]:
    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": content_disposition(filename)},
    )


def lecture_filename(report: LectureReport, extension: str) -> str:
    return f"attendance-{report.lecture_id}-{safe_name(report.title)}.{extension}"


def matrix_filename(matrix: PeriodMatrix, extension: str) -> str:
    return f"attendance-{matrix.first_day.isoformat()}-{matrix.last_day.isoformat()}.{extension}"


class AttendanceReportsApi(Controller):
    path = "/api/v1/attendance"
    tags = ["attendance"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/lectures/{lecture_id:int}", sync_to_thread=True)
    def lecture(
        self,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
    ) -> LectureReport:
        """A lecture's audience clinics in view, absent first, with minutes live and on
        demand, head count, share and quality of experience, and the totals (coordinators,
        admins, the lecture's specialist — who sees counts, never doctors' names)."""
        return reports_for(services, session).lecture(user, lecture_id)

    @get("/lectures/{lecture_id:int}/now", sync_to_thread=True)
    def watching_now(
        self,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
    ) -> NowReport:
        """Who is watching now (heard from in the last 45 seconds), per clinic in view."""
        return reports_for(services, session).watching_now(user, lecture_id)

    @get("/lectures/{lecture_id:int}/report.csv", sync_to_thread=True)
    def lecture_csv(
        self,
        *,
        request: Request[Any, Any, Any],
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
    ) -> Response[bytes]:
        """The lecture's report as CSV (UTF-8, for Excel)."""
        report = reports_for(services, session).lecture(user, lecture_id)
        data = exports.lecture_csv(report, translator(request))
        return download(data, lecture_filename(report, "csv"), CSV)

    @get("/lectures/{lecture_id:int}/report.xlsx", sync_to_thread=True)
    def lecture_xlsx(
        self,
        *,
        request: Request[Any, Any, Any],
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
    ) -> Response[bytes]:
        """The lecture's report as an Excel workbook."""
        report = reports_for(services, session).lecture(user, lecture_id)
        data = exports.lecture_xlsx(report, translator(request))
        return download(data, lecture_filename(report, "xlsx"), XLSX)

    @get("/clinics/{clinic_id:int}", sync_to_thread=True)
    def clinic(
        self,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        clinic_id: FromPath[int],
    ) -> ClinicHistory:
        """A clinic's lectures, newest first, attended or not (coordinators of its subtree,
        admins)."""
        return reports_for(services, session).clinic_history(user, clinic_id)

    @get("/matrix", sync_to_thread=True)
    def matrix(
        self,
        *,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        first: FromDate = None,
        last: ToDate = None,
        within: Within = None,
    ) -> PeriodMatrix:
        """The period's lectures × the clinics in view, each clinic with clinics below rolled
        up (coordinators: their subtree; admins: everything). Default: the last 180 days."""
        return reports_for(services, session).matrix(user, period_of(services, first, last), within)

    @get("/matrix.csv", sync_to_thread=True)
    def matrix_csv(
        self,
        *,
        request: Request[Any, Any, Any],
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        first: FromDate = None,
        last: ToDate = None,
        within: Within = None,
    ) -> Response[bytes]:
        """The period matrix as CSV: minutes where a clinic attended, "absent" where not."""
        found = reports_for(services, session).matrix(
            user, period_of(services, first, last), within
        )
        return download(
            exports.matrix_csv(found, translator(request)), matrix_filename(found, "csv"), CSV
        )

    @get("/matrix.xlsx", sync_to_thread=True)
    def matrix_xlsx(
        self,
        *,
        request: Request[Any, Any, Any],
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        first: FromDate = None,
        last: ToDate = None,
        within: Within = None,
    ) -> Response[bytes]:
        """The period matrix as an Excel workbook."""
        found = reports_for(services, session).matrix(
            user, period_of(services, first, last), within
        )
        return download(
            exports.matrix_xlsx(found, translator(request)), matrix_filename(found, "xlsx"), XLSX
        )

    @get("/users/{user_id:int}/record", sync_to_thread=True)
    def record(
        self, services: AppServices, session: DbSession, user: SignedInUser, user_id: FromPath[int]
    ) -> TrainingRecord:
        """A doctor's training record: hours per lecture (the doctor, their coordinator,
        admins)."""
        return reports_for(services, session).training_record(user, user_id)
