"""Attendance reports through Litestar's test client on a seeded portal (SQLite, real
SeaweedFS), with attendance made by real heartbeats through the API: the authorisation matrix
of every report endpoint, page and export (a township's coordinator never sees another
township's clinics; a specialist sees counts of their own lectures only; a doctor sees no
report but their own record), exports that open in openpyxl with formulas neutralised, and
clear 4xx answers to bad input."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, NamedTuple

import openpyxl
import pytest
from sqlalchemy import update

from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.support.web import PASSWORD, ROLES, Caller, Portal, lecture_json, open_portal
from training.accounts.models import Role
from training.accounts.services import AccountService
from training.attendance.models import ViewingSession
from training.base import utcnow
from training.clinics.services import ClinicService
from web.controllers import attendance_pages

TOWNSHIP_1, VILLAGE_IN, TOWNSHIP_9, VILLAGE_OUT = (
    "139901001000", "139901001001", "139901009000", "139901009001"
)  # fmt: skip
HOSTILE_VILLAGE = "139901001003"  # renamed to a formula
ALL_ROLES = (*ROLES, "coord_t1", "coord_t9")
DOCTOR_IN_NAME = "村卫生室 刘医生"  # the seeded village doctor's display name


@pytest.fixture(scope="module")
def portal(
    tmp_path_factory: pytest.TempPathFactory, embedded_s3: EmbeddedSeaweedFS
) -> Iterator[Portal]:
    with open_portal(tmp_path_factory.mktemp("attendance-reports"), embedded_s3) as portal:
        with portal.services.sessions() as session:
            clinics, accounts = ClinicService(session), AccountService(session)
            for username, code in (("coord-t1", TOWNSHIP_1), ("coord-t9", TOWNSHIP_9)):
                accounts.create(
                    username, PASSWORD, Role.COORDINATOR, clinic=clinics.by_region_code(code)
                )
                portal.passwords[username] = PASSWORD
            hostile = clinics.by_region_code(HOSTILE_VILLAGE)
            assert hostile is not None
            hostile.name = '=HYPERLINK("http://evil","x")'
            session.add(hostile)
            session.commit()
        client = portal.callers["admin"].client
        portal.callers["coord_t1"] = portal.as_user(client, "coord-t1", PASSWORD)
        portal.callers["coord_t9"] = portal.as_user(client, "coord-t9", PASSWORD)
        county = portal.region("139901000000")
        started = (utcnow() - timedelta(hours=2)).isoformat()
        created = portal.callers["owner"].post("/api/v1/lectures", json=lecture_json(
            portal, title="慢病随访规范", mandatory=True, scheduled_start=started,
            audience=[{"clinic_id": county, "include_subtree": True}]))  # fmt: skip
        assert created.status_code == 201, created.text
        lecture = created.json()["id"]
        portal.ids.update(lecture=lecture, village_in=portal.region(VILLAGE_IN),
                          village_out=portal.region(VILLAGE_OUT))  # fmt: skip
        send(portal, "doctor_in", lecture, "report-in-1", [(0, 1800), (1800, 3600)], head_count=4)
        send(portal, "doctor_out", lecture, "report-out-1", [(0, 2400)], head_count=2)
        with portal.services.sessions() as session:
            # Ten minutes pass: these sessions are no longer "watching now".
            session.execute(
                update(ViewingSession).values(last_seen_at=utcnow() - timedelta(minutes=10))
            )
            session.commit()
            accounts = AccountService(session)
            portal.ids["doctor_in"] = accounts.by_username("village-doctor").id  # type: ignore[union-attr]
            portal.ids["doctor_out"] = accounts.by_username("doc-out").id  # type: ignore[union-attr]
        yield portal


def send(
    portal: Portal,
    role: str,
    lecture: int,
    session_id: str,
    pieces: list[tuple[int, int]],
    **kw: Any,
) -> None:
    heartbeats = [
        {"session_id": session_id, "seq": seq, "lecture_id": lecture, "mode": "vod",
         "start": start, "end": end, "rendition": "360", **kw}
        for seq, (start, end) in enumerate(pieces)
    ]  # fmt: skip
    response = portal.callers[role].post(
        "/api/v1/attendance/heartbeats", json={"heartbeats": heartbeats}
    )
    assert response.json()["accepted"] == len(heartbeats), response.text


# --- who may see what ---------------------------------------------------------------------

LECTURE = {"admin", "coordinator", "coord_t1", "coord_t9", "owner"}
AREA = {"admin", "coordinator", "coord_t1", "coord_t9"}
CLINIC_IN = {"admin", "coordinator", "coord_t1"}
CLINIC_OUT = {"admin", "coordinator", "coord_t9"}
RECORD_IN = {"admin", "coordinator", "coord_t1", "doctor_in"}


class Endpoint(NamedTuple):
    name: str
    url: str
    allowed: set[str]
    anonymous: int  # the API says 401; pages send to sign-in


API = "/api/v1/attendance"
ENDPOINTS = [
    Endpoint("lecture report", API + "/lectures/{lecture}", LECTURE, 401),
    Endpoint("watching now", API + "/lectures/{lecture}/now", LECTURE, 401),
    Endpoint("lecture csv", API + "/lectures/{lecture}/report.csv", LECTURE, 401),
    Endpoint("lecture xlsx", API + "/lectures/{lecture}/report.xlsx", LECTURE, 401),
    Endpoint("clinic in township 1", API + "/clinics/{village_in}", CLINIC_IN, 401),
    Endpoint("clinic in township 9", API + "/clinics/{village_out}", CLINIC_OUT, 401),
    Endpoint("matrix", API + "/matrix", AREA, 401),
    Endpoint("matrix csv", API + "/matrix.csv", AREA, 401),
    Endpoint("matrix xlsx", API + "/matrix.xlsx?from=2026-01-01", AREA, 401),
    Endpoint("record", API + "/users/{doctor_in}/record", RECORD_IN, 401),
    Endpoint("index page", "/attendance", AREA, 303),
    Endpoint("lecture page", "/attendance/lectures/{lecture}", LECTURE, 303),
    Endpoint("clinic page", "/attendance/clinics/{village_in}", CLINIC_IN, 303),
    Endpoint("other clinic page", "/attendance/clinics/{village_out}", CLINIC_OUT, 303),
    Endpoint("record page", "/attendance/users/{doctor_in}/record", RECORD_IN, 303),
]


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[endpoint.name for endpoint in ENDPOINTS])
def test_every_role_gets_the_expected_status_from_every_report(
    portal: Portal, role: str, endpoint: Endpoint
) -> None:
    response = portal.callers[role].get(endpoint.url.format(**portal.ids), follow_redirects=False)
    allowed = 200 if role in endpoint.allowed else 403
    expected = endpoint.anonymous if role == "anon" else allowed
    assert response.status_code == expected, response.text[:300]


def clinic_names(portal: Portal, code: str) -> set[str]:
    """The names of the clinics of ``code``'s subtree."""
    with portal.services.sessions() as session:
        clinics = ClinicService(session)
        root = clinics.by_region_code(code)
        assert root is not None
        return {clinic.name for clinic in clinics.subtree(root)}


def subtree_ids(portal: Portal, code: str) -> set[int]:
    with portal.services.sessions() as session:
        clinics = ClinicService(session)
        root = clinics.by_region_code(code)
        assert root is not None
        return {clinic.id for clinic in clinics.subtree(root) if clinic.id}


def test_a_township_coordinator_never_sees_another_township_s_clinics(portal: Portal) -> None:
    t1, t9 = portal.callers["coord_t1"], portal.callers["coord_t9"]
    township_1, township_9 = subtree_ids(portal, TOWNSHIP_1), subtree_ids(portal, TOWNSHIP_9)
    lecture = f"{API}/lectures/{portal.ids['lecture']}"
    mine = t1.get(lecture).json()
    assert {line["clinic_id"] for line in mine["clinics"]} == township_1
    assert mine["totals"]["attended"] == 1
    theirs = t9.get(lecture).json()
    assert {line["clinic_id"] for line in theirs["clinics"]} == township_9
    matrix = t9.get(f"{API}/matrix").json()
    assert {row["clinic_id"] for row in matrix["rows"]} == township_9
    assert [lecture["lecture_id"] for lecture in matrix["lectures"]] == [portal.ids["lecture"]]
    # Village names repeat across townships: only the names township 9 does not have.
    names_1 = clinic_names(portal, TOWNSHIP_1) - clinic_names(portal, TOWNSHIP_9)
    for url in (
        f"{API}/matrix.csv",
        f"{lecture}/report.csv",
        "/attendance",
        f"/attendance/lectures/{portal.ids['lecture']}",
    ):
        text = t9.get(url).text
        assert not [name for name in names_1 if name in text], url
    sheet = openpyxl.load_workbook(io.BytesIO(t9.get(f"{API}/matrix.xlsx").content)).worksheets[0]
    shown = {str(row[1].value) for row in sheet.iter_rows(min_row=2)}
    assert shown
    assert not shown & names_1


def test_a_specialist_sees_counts_and_no_doctor_of_their_own_lecture(portal: Portal) -> None:
    url = f"{API}/lectures/{portal.ids['lecture']}"
    admin = portal.callers["admin"].get(url)
    owner = portal.callers["owner"].get(url)
    assert DOCTOR_IN_NAME in admin.text
    assert owner.json()["names_doctors"] is False
    assert DOCTOR_IN_NAME not in owner.text
    assert (
        DOCTOR_IN_NAME
        not in portal.callers["owner"].get(f"/attendance/lectures/{portal.ids['lecture']}").text
    )
    assert owner.json()["totals"] == admin.json()["totals"]
    assert owner.json()["totals"]["attended"] == 2
    assert owner.json()["totals"]["head_count"] == 4 + 2


def test_a_doctor_sees_their_own_record_from_their_menu(portal: Portal) -> None:
    doctor = portal.callers["doctor_in"]
    home = doctor.get("/").text
    record_url = f"/attendance/users/{portal.ids['doctor_in']}/record"
    assert f'href="{record_url}"' in home
    assert 'id="nav-attendance"' not in home
    record = doctor.get(f"{API}/users/{portal.ids['doctor_in']}/record").json()
    assert [(line["lecture_id"], line["hours"]) for line in record["lectures"]] == [
        (portal.ids["lecture"], 1.0)
    ]
    page = doctor.get(record_url).text
    assert "慢病随访规范" in page
    assert "我的学习记录" in page


def test_coordinators_find_the_reports_in_the_menu_and_on_the_lecture(portal: Portal) -> None:
    assert 'id="nav-attendance"' in portal.callers["coord_t1"].get("/").text
    lecture_page = f"/lectures/{portal.ids['lecture']}"
    assert 'id="attendance-link"' in portal.callers["owner"].get(lecture_page).text
    assert 'id="attendance-link"' in portal.callers["coordinator"].get(lecture_page).text
    assert 'id="attendance-link"' not in portal.callers["doctor_in"].get(lecture_page).text


def test_the_lecture_page_lists_absent_clinics_first_and_offers_downloads(portal: Portal) -> None:
    page = portal.callers["coord_t1"].get(f"/attendance/lectures/{portal.ids['lecture']}").text
    assert page.index('class="absent"') < page.index('class="present"')
    assert 'id="watching-now"' in page
    assert "/report.xlsx" in page
    assert "js/attendance.js" in page


def test_lecture_xlsx_downloads_as_an_attachment_and_neutralises_formulas(portal: Portal) -> None:
    response = portal.callers["admin"].get(f"{API}/lectures/{portal.ids['lecture']}/report.xlsx")
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    assert "filename*=UTF-8''attendance-" in disposition
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    assert '\'=HYPERLINK("http://evil","x")' in {cell.value for cell in cells}
    assert sheet.cell(1, 2).value == "机构"  # the caller's language


def test_matrix_csv_is_neutralised_and_marks_attended_and_absent(portal: Portal) -> None:
    response = portal.callers["coord_t1"].get(f"{API}/matrix.csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment;" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    cells = {row[1]: row[3] for row in rows[1:]}
    assert cells["黎塘村卫生室"] == "60"  # the village doctor's clinic watched all 60 minutes
    assert cells['\'=HYPERLINK("http://evil","x")'] == "缺席"
    assert cells["城关镇卫生院 · 下属机构"] == "1/16"


@pytest.mark.parametrize(
    ("url", "status"),
    [(API + "/matrix?from=2026-13-01", 400), (API + "/matrix?from=2026-05-02&to=2026-05-01", 400),
     (API + "/matrix.xlsx?from=2000-01-01&to=2026-01-01", 400), ("/attendance?to=yesterday", 400),
     (API + "/lectures/987654", 404), ("/attendance/lectures/987654", 404),
     (API + "/clinics/987654", 404), (API + "/users/987654/record", 404),
     (API + "/lectures/99999999999999999999", 404)],
)  # fmt: skip
def test_bad_input_gets_a_clear_4xx(portal: Portal, url: str, status: int) -> None:
    response = portal.callers["admin"].get(url)
    assert response.status_code == status, response.text[:300]


def test_watching_now_shows_a_clinic_heard_from_just_now(portal: Portal) -> None:
    send(portal, "doctor_out", portal.ids["lecture"], "report-now-1", [(2400, 2415)], head_count=3)
    mine = portal.callers["coord_t9"].get(f"{API}/lectures/{portal.ids['lecture']}/now").json()
    assert [(c["clinic_id"], c["head_count"]) for c in mine["clinics"]] == [
        (portal.ids["village_out"], 3)
    ]
    other: Caller = portal.callers["coord_t1"]
    assert other.get(f"{API}/lectures/{portal.ids['lecture']}/now").json()["clinics"] == []


def test_within_narrows_the_matrix_to_a_subtree_the_viewer_may_see(portal: Portal) -> None:
    township_1 = portal.region(TOWNSHIP_1)
    admin = portal.callers["admin"].get(f"{API}/matrix?within={township_1}").json()
    assert {row["clinic_id"] for row in admin["rows"]} == subtree_ids(portal, TOWNSHIP_1)
    t9 = portal.callers["coord_t9"]
    assert t9.get(f"{API}/matrix?within={township_1}").status_code == 403
    assert t9.get(f"{API}/matrix.xlsx?within={township_1}").status_code == 403
    assert t9.get(f"/attendance?within={township_1}").status_code == 403
    for bad in ("abc", "0", "99999999999999999999"):
        assert portal.callers["admin"].get(f"{API}/matrix?within={bad}").status_code == 400, bad


def test_a_large_matrix_page_shows_townships_that_open_their_villages(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attendance_pages, "PAGE_CELLS", 100)  # 308 clinics: over; 17: under
    page = portal.callers["coordinator"].get("/attendance").text
    assert 'id="matrix-compact"' in page
    assert f'data-clinic-id="{portal.ids["village_in"]}"' not in page
    township_1 = portal.region(TOWNSHIP_1)
    assert f"within={township_1}" in page
    opened = portal.callers["coordinator"].get(f"/attendance?within={township_1}").text
    assert f'data-clinic-id="{portal.ids["village_in"]}"' in opened
    assert f'data-clinic-id="{portal.ids["village_out"]}"' not in opened
    assert 'id="all-clinics"' in opened
