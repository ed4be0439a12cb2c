"""CSV and XLSX exports of attendance: they open in a spreadsheet library (openpyxl) with the
figures of the report, every text cell that would start a formula neutralised, and a term's
matrix of 100 lectures × the county's 308 clinics is written in under 3 seconds."""

from __future__ import annotations

import csv
import io
import time
from datetime import date, timedelta

import openpyxl
import pytest
from sqlalchemy import Engine, insert
from sqlmodel import Session

from infra.seed import sample_roster
from training.accounts.models import Role, User
from training.accounts.services import AccountService
from training.attendance.exports import (
    lecture_csv,
    lecture_xlsx,
    matrix_csv,
    matrix_xlsx,
    neutralise,
)
from training.attendance.models import ViewingSession
from training.attendance.report_types import Period
from training.attendance.reports import AttendanceReports
from training.attendance.services import AttendanceIngest
from training.base import utcnow
from training.clinics.services import ClinicService, read_roster
from training.lectures.models import Lecture, LectureAudience, LectureStatus
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.search.services import SearchService

ZH = {"Clinic": "机构", "absent": "缺席", "Total": "合计", "yes": "是"}
HOSTILE = ["=1+2", "+SUM(A1:A2)", "-2+3", "@cmd", "\tTAB", "\rCR"]


def translate(text: str) -> str:
    return ZH.get(text, text)


@pytest.mark.parametrize("text", HOSTILE)
def test_text_that_would_start_a_formula_is_neutralised(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["城关镇卫生院", "Village 3", "1+2", "", "'quoted"])
def test_ordinary_text_is_left_as_it_is(text: str) -> None:
    assert neutralise(text) == text


@pytest.fixture
def hostile_county(session: Session) -> tuple[Session, User, Lecture]:
    """The sample county with its first villages renamed to formulas, and a lecture with a
    formula for a title that the first village watched in full."""
    clinics = ClinicService(session)
    clinics.import_roster(read_roster(sample_roster()))
    villages = [clinics.by_region_code(f"13990100100{n}") for n in range(1, len(HOSTILE) + 1)]
    for village, name in zip(villages, HOSTILE, strict=True):
        assert village is not None
        village.name = name
        session.add(village)
    accounts = AccountService(session)
    admin = accounts.create("admin", "long enough", Role.ADMIN)
    doctor = accounts.create("doc", "long enough", Role.DOCTOR, clinic=villages[0])
    county = clinics.by_region_code("139901000000")
    assert county is not None
    lecture = LectureService(session, SearchService(session)).schedule(
        admin,
        LectureDraft("=HYPERLINK(\"http://evil\")", [(county.id or 0, True)],
                     scheduled_start=utcnow() - timedelta(hours=2), mandatory=True),
    )  # fmt: skip
    session.commit()
    heartbeat = {"session_id": "session-xlsx", "seq": 0, "lecture_id": lecture.id,
                 "mode": "vod", "start": 0, "end": 3600, "head_count": 7}  # fmt: skip
    assert AttendanceIngest(session).ingest(doctor, [heartbeat]).accepted == 1
    session.commit()
    return session, admin, lecture


def test_lecture_xlsx_opens_with_the_report_s_figures_and_no_formula(
    hostile_county: tuple[Session, User, Lecture],
) -> None:
    session, admin, lecture = hostile_county
    report = AttendanceReports(session).lecture(admin, lecture.id or 0)
    book = openpyxl.load_workbook(io.BytesIO(lecture_xlsx(report, translate)))
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows())
    assert rows[0][1].value == "机构"
    assert all(cell.data_type != "f" for row in rows for cell in row)
    # A carriage return is stored as the escape _x000D_, which openpyxl leaves as it is.
    names = [str(row[1].value).replace("_x000D_", "\r") for row in rows[1:-1]]
    assert len(names) == len(report.clinics)
    assert {"'" + text for text in HOSTILE} <= set(names)
    watched = next(row for row in rows if row[1].value == "'=1+2")
    assert (watched[4].value, watched[5].value, watched[9].value) == ("是", 60, 7)
    assert rows[1][4].value == "缺席"  # absent first
    assert rows[-1][1].value == "合计"
    assert rows[-1][4].value == f"1/{len(report.clinics)}"


def test_lecture_csv_is_utf8_for_excel_and_neutralised(
    hostile_county: tuple[Session, User, Lecture],
) -> None:
    session, admin, lecture = hostile_county
    data = lecture_csv(AttendanceReports(session).lecture(admin, lecture.id or 0), translate)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][1] == "机构"
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'@cmd" in cells
    assert "城关镇卫生院" in cells  # the parent of the villages, as it is


def test_matrix_exports_neutralise_the_lecture_titles(
    hostile_county: tuple[Session, User, Lecture],
) -> None:
    session, admin, _ = hostile_county
    today = utcnow().date()
    matrix = AttendanceReports(session, "UTC").matrix(
        admin, Period(today - timedelta(days=1), today)
    )
    sheet = openpyxl.load_workbook(io.BytesIO(matrix_xlsx(matrix, translate))).worksheets[0]
    header = [cell.value for cell in next(sheet.iter_rows())]
    assert header[3].endswith('=HYPERLINK("http://evil") (mandatory)')
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    rows = list(csv.reader(io.StringIO(matrix_csv(matrix, translate).decode("utf-8-sig"))))
    by_name = {row[1].strip(): row for row in rows[1:]}
    assert by_name["'=1+2"][3] == "60"  # minutes watched where it attended
    assert by_name["'+SUM(A1:A2)"][3] == "缺席"
    assert by_name["城关镇卫生院 · clinics below"][3] == "1/16"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_term_matrix_of_100_lectures_by_the_county_s_clinics_exports_in_under_3_seconds(
    session: Session, engine: Engine
) -> None:
    clinics = ClinicService(session)
    clinics.import_roster(read_roster(sample_roster()))
    every = clinics.all()
    assert len(every) >= 304  # 18 township centres, 286 villages and the county's own
    accounts = AccountService(session)
    admin = accounts.create("admin", "long enough", Role.ADMIN)
    doctors = [accounts.create(f"doc-{c.id}", "long enough", Role.DOCTOR, clinic=c) for c in every]
    start = utcnow() - timedelta(days=120)
    lectures = [Lecture(title=f"第{n}讲", specialist_id=admin.id or 0, mandatory=n % 3 == 0,
                        scheduled_start=start + timedelta(days=n), status=LectureStatus.PUBLISHED)
                for n in range(100)]  # fmt: skip
    session.add_all(lectures)
    session.flush()
    session.add_all(
        LectureAudience(lecture_id=lecture.id or 0, clinic_id=every[0].id or 0)
        for lecture in lectures
    )
    # Two of every three clinics watched each lecture, some of it.
    rows = [
        {"user_id": doctor.id, "session_id": f"s-{lecture.id}-{doctor.id}", "lecture_id": lecture.id,
         "clinic_id": doctor.clinic_id, "vod_intervals": [[0.0, 600.0 * (1 + (doctor.id or 0) % 6)]],
         "live_intervals": [], "head_count": 2, "rendition_seconds": {"360": 600.0},
         "mode": "vod", "rendition": "360", "last_seq": 3, "stalls": 1, "stalled_s": 2.0,
         "first_seen_at": start, "last_seen_at": start}
        for lecture in lectures for doctor in doctors if (doctor.id or 0) % 3
    ]  # fmt: skip
    session.execute(insert(ViewingSession), rows)
    session.commit()
    # CPU time of this process (SQLite runs in it): the work done, whatever else the shared
    # 2-core machine is running at the moment; bench/ measures wall time on a quiet machine.
    began = time.process_time()
    matrix = AttendanceReports(session).matrix(admin, Period(date(2000, 1, 1), date(2001, 1, 1)))
    assert matrix.lectures == ()
    today = utcnow().date()
    matrix = AttendanceReports(session, "UTC").matrix(
        admin, Period(today - timedelta(days=200), today)
    )
    data = matrix_xlsx(matrix, translate)
    elapsed = time.process_time() - began
    assert (len(matrix.lectures), len(matrix.rows)) == (100, len(every))
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    assert sheet.max_column == 3 + 100 + 1
    assert elapsed < 3.0, f"{elapsed:.2f} s"
