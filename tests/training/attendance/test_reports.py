"""Attendance reports on SQLite and PostgreSQL, from real heartbeats ingested through
``AttendanceIngest``: the per-lecture figures, absent first; who may see what (a township's
coordinator sees only their township, a specialist counts without names, a doctor only their
own record); the period matrix with its roll-ups and mandatory shares, days in the county's
time zone; a clinic's history; "watching now"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from infra.seed import sample_roster
from training.accounts.models import Role, User
from training.accounts.services import AccountService
from training.attendance.report_types import Period
from training.attendance.reports import AttendanceReports, may_see_lecture_report
from training.attendance.services import AttendanceIngest
from training.base import utcnow
from training.clinics.models import ClinicLevel
from training.clinics.services import ClinicService, read_roster
from training.errors import PermissionDeniedError, UserNotFound, ValidationError
from training.lectures.models import Lecture
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.search.services import SearchService

COUNTY, TOWNSHIP_1, TOWNSHIP_2 = "139901000000", "139901001000", "139901002000"
VILLAGE_A, VILLAGE_B, VILLAGE_T2 = "139901001001", "139901001002", "139901002001"
TOWNSHIP_1_VILLAGES = 16  # the sample roster


def local_today() -> date:
    return utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date()


@dataclass
class County:
    session: Session
    users: dict[str, User]
    mandatory: Lecture  # the whole county, 2 hours ago, 60 min, 50 % counts
    optional: Lecture  # township 1 only, yesterday
    clinic_ids: dict[str, int]

    def reports(self) -> AttendanceReports:
        return AttendanceReports(self.session, "Asia/Shanghai")


def _lecture(
    session: Session, specialist: User, title: str, audience: int, start: datetime, **kw: Any
) -> Lecture:
    lectures = LectureService(session, SearchService(session))
    return lectures.schedule(
        specialist, LectureDraft(title, [(audience, True)], scheduled_start=start, **kw)
    )


def beats(
    lecture: Lecture, session_id: str, pieces: list[tuple[float, float]], **kw: Any
) -> list[dict[str, Any]]:
    """One heartbeat per played interval, as a player sends them."""
    return [
        {"session_id": session_id, "seq": seq, "lecture_id": lecture.id, "mode": "vod",
         "start": start, "end": end, "playing": True, "rendition": "360", "stalls": 0,
         "stalled": 0.0, "head_count": 1, **kw}
        for seq, (start, end) in enumerate(pieces)
    ]  # fmt: skip


def watch(
    county: County, who: str, items: list[dict[str, Any]], now: datetime | None = None
) -> None:
    """Ingest ``items`` as ``who``'s player sent them, by default five minutes ago (not
    "watching now")."""
    when = now or utcnow() - timedelta(minutes=5)
    result = AttendanceIngest(county.session).ingest(county.users[who], items, now=when)
    assert (result.accepted, result.rejected) == (len(items), [])
    county.session.commit()


@pytest.fixture
def county(session: Session) -> County:
    clinics = ClinicService(session)
    clinics.import_roster(read_roster(sample_roster()))
    ids = {code: clinics.by_region_code(code).id for code in  # type: ignore[union-attr]
           (COUNTY, TOWNSHIP_1, TOWNSHIP_2, VILLAGE_A, VILLAGE_B, VILLAGE_T2)}  # fmt: skip
    accounts = AccountService(session)
    roles = {
        "admin": (Role.ADMIN, None), "county-coord": (Role.COORDINATOR, COUNTY),
        "t1-coord": (Role.COORDINATOR, TOWNSHIP_1), "t2-coord": (Role.COORDINATOR, TOWNSHIP_2),
        "owner": (Role.SPECIALIST, None), "other-spec": (Role.SPECIALIST, None),
        "doc-a": (Role.DOCTOR, VILLAGE_A), "doc-a2": (Role.DOCTOR, VILLAGE_A),
        "doc-b": (Role.DOCTOR, VILLAGE_B), "doc-t2": (Role.DOCTOR, VILLAGE_T2),
    }  # fmt: skip
    users = {
        name: accounts.create(
            name,
            "long enough",
            role,
            display_name=f"Dr {name}",
            clinic=clinics.get(ids[code]) if code else None,
        )
        for name, (role, code) in roles.items()
    }
    now = utcnow()
    mandatory = _lecture(session, users["owner"], "=HYPERLINK(\"http://x\")", ids[COUNTY],
                         now - timedelta(hours=2), mandatory=True)  # fmt: skip
    optional = _lecture(
        session, users["owner"], "儿童发热", ids[TOWNSHIP_1], now - timedelta(days=1)
    )
    session.commit()
    county = County(session, users, mandatory, optional, ids)
    # Village A: two doctors, one rewatching (0–40 min), the other 40–50 min; 3 in the room.
    watch(
        county,
        "doc-a",
        beats(
            mandatory, "session-a-1", [(0, 1200), (600, 2400)], head_count=3, stalls=1, stalled=5.0
        ),
    )
    watch(county, "doc-a2", beats(mandatory, "session-a2-1", [(2400, 3000)], rendition="audio"))
    # Village B: 10 minutes of 60 — absent. Township 2's village: 40 min live and on demand.
    watch(county, "doc-b", beats(mandatory, "session-b-1", [(0, 600)]))
    watch(county, "doc-t2", [*beats(mandatory, "session-t2-1", [(0, 2000)], mode="live"),
                             *beats(mandatory, "session-t2-2", [(1800, 2400)])])  # fmt: skip
    return county


def test_lecture_report_lists_the_audience_absent_first_with_the_union_of_what_was_watched(
    county: County,
) -> None:
    report = county.reports().lecture(county.users["admin"], county.mandatory.id or 0)
    lines = {line.clinic_id: line for line in report.clinics}
    assert len(lines) == ClinicService(county.session).count()  # the whole county is invited
    attended = [line.attended for line in report.clinics]
    assert attended == sorted(attended)  # absent first
    village_a = lines[county.clinic_ids[VILLAGE_A]]
    assert (village_a.attended, village_a.watched_s, village_a.vod_s) == (True, 3000.0, 3000.0)
    assert (village_a.head_count, village_a.viewers, village_a.share) == (4, 2, 3000 / 3600)
    assert village_a.parent_name == "城关镇卫生院"
    assert village_a.main_rendition == "360"  # 2400 s of 360p against 600 s of audio
    assert village_a.stalls_per_hour == pytest.approx(2 / ((1200 + 1800 + 600) / 3600))
    assert [d.name for d in village_a.doctors] == ["Dr doc-a", "Dr doc-a2"]
    village_b = lines[county.clinic_ids[VILLAGE_B]]
    assert (village_b.attended, village_b.watched_s) == (False, 600.0)
    t2 = lines[county.clinic_ids[VILLAGE_T2]]
    assert (t2.attended, t2.live_s, t2.vod_s, t2.watched_s) == (True, 2000.0, 600.0, 2400.0)
    totals = report.totals
    assert (totals.attended, totals.absent) == (2, len(lines) - 2)
    assert totals.head_count == 4 + 1 + 1
    assert totals.watched_s == 3000 + 600 + 2400


def test_a_township_coordinator_sees_only_the_clinics_of_their_township(county: County) -> None:
    reports = county.reports()
    report = reports.lecture(county.users["t1-coord"], county.mandatory.id or 0)
    township = ClinicService(county.session).get(county.clinic_ids[TOWNSHIP_1])
    assert len(report.clinics) == 1 + TOWNSHIP_1_VILLAGES
    assert {line.clinic_id for line in report.clinics} == {
        c.id for c in ClinicService(county.session).subtree(township)
    }
    assert county.clinic_ids[VILLAGE_T2] not in {line.clinic_id for line in report.clinics}
    assert report.totals.attended == 1
    other = reports.lecture(county.users["t2-coord"], county.mandatory.id or 0)
    assert {line.clinic_id for line in other.clinics}.isdisjoint(
        {c.id for c in ClinicService(county.session).subtree(township)}
    )
    with pytest.raises(PermissionDeniedError):  # township 1's own lecture: not theirs
        reports.lecture(county.users["t2-coord"], county.optional.id or 0)
    with pytest.raises(PermissionDeniedError):
        reports.clinic_history(county.users["t2-coord"], county.clinic_ids[VILLAGE_A])


def test_the_specialist_sees_counts_of_own_lectures_and_no_doctor(county: County) -> None:
    reports = county.reports()
    report = reports.lecture(county.users["owner"], county.mandatory.id or 0)
    assert report.names_doctors is False
    assert all(line.doctors == () for line in report.clinics)
    assert report.totals.attended == 2
    assert may_see_lecture_report(county.users["owner"], county.mandatory)
    assert not may_see_lecture_report(county.users["other-spec"], county.mandatory)
    for who in ("other-spec", "doc-a"):
        with pytest.raises(PermissionDeniedError):
            reports.lecture(county.users[who], county.mandatory.id or 0)
    for call in (
        lambda: reports.matrix(county.users["owner"], Period(date(2026, 1, 1), date(2026, 2, 1))),
        lambda: reports.clinic_history(county.users["doc-a"], county.clinic_ids[VILLAGE_A]),
    ):
        with pytest.raises(PermissionDeniedError):
            call()


def test_training_record_for_the_doctor_their_coordinator_and_admins_only(county: County) -> None:
    reports = county.reports()
    doctor_id = county.users["doc-a"].id or 0
    own = reports.training_record(county.users["doc-a"], doctor_id)
    assert [(line.lecture_id, line.watched_s) for line in own.lectures] == [
        (county.mandatory.id, 2400.0)
    ]
    assert own.hours == pytest.approx(2400 / 3600)
    assert own.lectures[0].mandatory is True
    for who in ("t1-coord", "county-coord", "admin"):
        assert reports.training_record(county.users[who], doctor_id).hours == own.hours
    for who in ("t2-coord", "doc-b", "owner"):
        with pytest.raises(PermissionDeniedError):
            reports.training_record(county.users[who], doctor_id)
    with pytest.raises(PermissionDeniedError):  # an unknown id looks like someone else's
        reports.training_record(county.users["t1-coord"], 987654)
    with pytest.raises(UserNotFound):
        reports.training_record(county.users["admin"], 987654)


def test_matrix_rolls_villages_up_to_their_township_and_counts_mandatory_lectures(
    county: County,
) -> None:
    today = local_today()
    period = Period(today - timedelta(days=3), today)
    matrix = county.reports().matrix(county.users["admin"], period)
    assert [lecture.lecture_id for lecture in matrix.lectures] == [
        county.optional.id,
        county.mandatory.id,
    ]
    rows = {row.clinic_id: row for row in matrix.rows}
    township = rows[county.clinic_ids[TOWNSHIP_1]]
    assert township.below is not None
    optional, mandatory = township.below
    assert mandatory is not None
    assert (mandatory.clinics, mandatory.attended) == (
        TOWNSHIP_1_VILLAGES,
        1,
    )
    assert optional is not None
    assert (optional.clinics, optional.attended) == (
        TOWNSHIP_1_VILLAGES,
        0,
    )
    assert township.below_mandatory is not None
    assert (township.below_mandatory.clinics, township.below_mandatory.attended) == (
        TOWNSHIP_1_VILLAGES,
        1,
    )
    village_a = rows[county.clinic_ids[VILLAGE_A]]
    assert village_a.below is None
    assert village_a.cells[1] is not None
    assert village_a.cells[1].attended
    assert village_a.cells[0] is not None
    assert not village_a.cells[0].attended
    assert village_a.mandatory is not None
    assert village_a.mandatory.share == 1.0
    assert rows[county.clinic_ids[VILLAGE_B]].mandatory.share == 0.0  # type: ignore[union-attr]
    assert (
        rows[county.clinic_ids[VILLAGE_T2]].cells[0] is None
    )  # not in the optional one's audience
    root = rows[county.clinic_ids[COUNTY]]
    assert root.depth == 0
    assert township.depth == 1
    assert village_a.depth == 2
    assert root.below is not None
    assert root.below[1] is not None
    assert root.below[1].attended == 2
    groups = {row.clinic_id: roll for row, roll in matrix.groups()}
    assert set(groups) == {
        row.clinic_id for row in matrix.rows if row.level is ClinicLevel.TOWNSHIP
    }
    assert groups[county.clinic_ids[TOWNSHIP_1]].attended == 1
    assert [lecture.attended for lecture in matrix.lectures] == [0, 2]


def test_matrix_of_a_township_coordinator_holds_only_their_clinics_and_lectures(
    county: County,
) -> None:
    today = local_today()
    matrix = county.reports().matrix(
        county.users["t2-coord"], Period(today - timedelta(days=3), today)
    )
    assert [lecture.lecture_id for lecture in matrix.lectures] == [county.mandatory.id]
    township = ClinicService(county.session).get(county.clinic_ids[TOWNSHIP_2])
    assert all(
        ClinicService(county.session).get(row.clinic_id).path.startswith(township.path)
        for row in matrix.rows
    )
    assert matrix.rows[0].clinic_id == township.id
    assert matrix.rows[0].depth == 0


def test_period_days_are_the_county_s_days(county: County) -> None:
    # 16:30 UTC on 1 March is 00:30 on 2 March in Shanghai.
    late = _lecture(county.session, county.users["owner"], "深夜", county.clinic_ids[COUNTY],
                    datetime(2026, 3, 1, 16, 30, tzinfo=UTC))  # fmt: skip
    county.session.commit()
    reports = county.reports()
    on_second = reports.matrix(county.users["admin"], Period(date(2026, 3, 2), date(2026, 3, 2)))
    assert [(lec.lecture_id, lec.day) for lec in on_second.lectures] == [
        (late.id, date(2026, 3, 2))
    ]
    on_first = reports.matrix(county.users["admin"], Period(date(2026, 3, 1), date(2026, 3, 1)))
    assert on_first.lectures == ()
    in_utc = AttendanceReports(county.session, "UTC").matrix(
        county.users["admin"], Period(date(2026, 3, 1), date(2026, 3, 1))
    )
    assert [lec.lecture_id for lec in in_utc.lectures] == [late.id]


@pytest.mark.parametrize(
    ("first", "last", "problem"),
    [("2026-13-01", None, "YYYY-MM-DD"), ("2026-05-02", "2026-05-01", "after"),
     ("2020-01-01", "2026-01-01", "at most")],
)  # fmt: skip
def test_a_bad_period_is_refused_with_the_reason(
    first: str, last: str | None, problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        Period.parse(first, last, today=date(2026, 12, 1))


def test_a_period_defaults_to_the_last_180_days() -> None:
    assert Period.parse(None, None, today=date(2026, 12, 1)) == Period(
        date(2026, 6, 5), date(2026, 12, 1)
    )


def test_clinic_history_lists_its_lectures_newest_first_attended_or_not(county: County) -> None:
    history = county.reports().clinic_history(
        county.users["t1-coord"], county.clinic_ids[VILLAGE_A]
    )
    assert [(line.lecture_id, line.attended, line.watched_s) for line in history.lectures] == [
        (county.mandatory.id, True, 3000.0), (county.optional.id, False, 0.0)
    ]  # fmt: skip
    assert (history.attended, history.mandatory, history.mandatory_attended) == (1, 1, 1)
    t2 = county.reports().clinic_history(
        county.users["county-coord"], county.clinic_ids[VILLAGE_T2]
    )
    assert [line.lecture_id for line in t2.lectures] == [county.mandatory.id]


def test_watching_now_counts_recent_sessions_per_clinic_in_view(county: County) -> None:
    now = utcnow()
    watch(
        county,
        "doc-b",
        beats(county.mandatory, "session-b-now", [(3000, 3015)], head_count=5),
        now=now,
    )
    watch(county, "doc-t2", beats(county.mandatory, "session-t2-now", [(3000, 3015)]), now=now)
    reports = county.reports()
    everyone = reports.watching_now(county.users["admin"], county.mandatory.id or 0)
    assert {(c.clinic_id, c.head_count) for c in everyone.clinics} == {
        (county.clinic_ids[VILLAGE_B], 5), (county.clinic_ids[VILLAGE_T2], 1)
    }  # fmt: skip
    assert (everyone.sessions, everyone.head_count) == (2, 6)
    mine = reports.watching_now(county.users["t1-coord"], county.mandatory.id or 0)
    assert county.clinic_ids[VILLAGE_T2] not in {c.clinic_id for c in mine.clinics}
    assert [c.clinic_id for c in mine.clinics] == [county.clinic_ids[VILLAGE_B]]
    # Five minutes ago is not now: the fixture's sessions are not counted.
    assert (
        reports.watching_now(county.users["admin"], county.mandatory.id or 0, within_s=120).sessions
        == 2
    )
