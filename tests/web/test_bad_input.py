"""Bad input gets a clear 4xx, never a 500, and changes nothing stored: rosters that are not
UTF-8 or not CSV or break the columns' limits, odd upload names, lecture drafts with a year-1
start, a clinic twice or over-long fields from the form, ids beyond the database's integer
range; on SQLite and PostgreSQL (which refuses an over-long value with an error, where SQLite
stores it). Then hypothesis throws generated input at the lecture API and the roster import."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import TestClient

from infra.db import upgrade
from infra.seed import seed
from infra.settings import Settings
from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from tests.support.services import fresh_postgres_database
from tests.support.web import PASSWORD, sign_in
from training.accounts.models import Role
from training.accounts.services import AccountService
from training.clinics.services import ClinicService
from web.app import build_services, create_app
from web.state import Services

ID_MAX = 2**31 - 1  # the largest key PostgreSQL's integer columns hold
HEADER = "region_code,parent_region_code,name,level,kind,bandwidth_kbps\n"
TOWNSHIP = "139901001000"
GOOD_ROW = f"139901001098,{TOWNSHIP},新村卫生室,village,village_clinic,600\n"


class Signed:
    """One signed-in account on the module's one test client (roles take turns on it)."""

    def __init__(self, client: TestClient[Litestar], cookies: dict[str, str]) -> None:
        self.client, self.cookies = client, cookies

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.client.cookies.clear()
        for name, value in self.cookies.items():
            self.client.cookies.set(name, value, domain="testserver.local")
        headers = {"x-csrftoken": self.cookies.get("csrftoken", ""), **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)


class BadInputPortal:
    def __init__(self, services: Services, admin: Signed, specialist: Signed) -> None:
        self.services, self.admin, self.specialist = services, admin, specialist

    def clinic_count(self) -> int:
        with self.services.sessions() as session:
            return ClinicService(session).count()

    def township_id(self) -> int:
        with self.services.sessions() as session:
            township = ClinicService(session).by_region_code(TOWNSHIP)
            assert township is not None
            assert township.id is not None
            return township.id

    def import_roster(self, content: bytes, filename: str = "roster.csv") -> httpx.Response:
        files = {"roster": (filename, content, "text/csv")}
        return self.admin.request("POST", "/admin/clinics", files=files)

    def lecture_count(self) -> int:
        return len(self.specialist.request("GET", "/api/v1/lectures/").json())


@contextmanager
def portal_on(database_url: str, data_dir: Path, s3: EmbeddedSeaweedFS) -> Iterator[BadInputPortal]:
    settings = Settings(
        data_dir=data_dir,
        database={"url": database_url},
        storage={"endpoint_url": s3.endpoint_url, "bucket": s3.bucket,
                 "access_key": S3_ACCESS_KEY, "secret_key": S3_SECRET_KEY},
    )  # fmt: skip
    services = build_services(settings)
    upgrade(services.engine)
    with services.sessions() as session:
        seed(session)
        accounts = AccountService(session)
        accounts.create("admin-2", PASSWORD, Role.ADMIN, locale="en")
        accounts.create("spec-2", PASSWORD, Role.SPECIALIST, locale="en")
        session.commit()
    with TestClient(create_app(settings, services)) as client:
        signed = {}
        for username in ("admin-2", "spec-2"):
            client.cookies.clear()
            assert sign_in(client, username, PASSWORD) == 303
            signed[username] = Signed(client, dict(client.cookies))
        yield BadInputPortal(services, signed["admin-2"], signed["spec-2"])
    services.engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def portal(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    embedded_s3: EmbeddedSeaweedFS,
) -> Iterator[BadInputPortal]:
    folder = tmp_path_factory.mktemp(f"bad-input-{request.param}")
    if request.param == "sqlite":
        with portal_on(f"sqlite:///{folder / 'db.sqlite'}", folder / "data", embedded_s3) as p:
            yield p
        return
    admin = request.getfixturevalue("postgres_admin_url")
    with (
        fresh_postgres_database(admin) as url,
        portal_on(url, folder / "data", embedded_s3) as p,
    ):
        yield p


BAD_ROWS = {
    "field-over-csv-limit": f'139901001097,{TOWNSHIP},"{"长" * (csv.field_size_limit() + 10)}",village,village_clinic,600',
    "nul-byte": f"139901001097,{TOWNSHIP},村\x00卫生室,village,village_clinic,600",
    "name-over-200": f"139901001097,{TOWNSHIP},{'长' * 201},village,village_clinic,600",
    "region-code-over-12": f"1399010010970,{TOWNSHIP},村卫生室,village,village_clinic,600",
    "parent-code-over-12": f"139901001097,{TOWNSHIP}0,村卫生室,village,village_clinic,600",
    "empty-region-code": f",{TOWNSHIP},村卫生室,village,village_clinic,600",
    "empty-name": f"139901001097,{TOWNSHIP}, ,village,village_clinic,600",
    "negative-bandwidth": f"139901001097,{TOWNSHIP},村卫生室,village,village_clinic,-5",
    "bandwidth-over-integer": f"139901001097,{TOWNSHIP},村卫生室,village,village_clinic,{2**40}",
    "own-parent": "139901001097,139901001097,村卫生室,village,village_clinic,600",
    "short-row": f"139901001097,{TOWNSHIP},村卫生室",
    "long-row": f"139901001097,{TOWNSHIP},村卫生室,village,village_clinic,600,extra",
}  # fmt: skip
BAD_FILES = {
    **{name: (HEADER + GOOD_ROW + row + "\n").encode() for name, row in BAD_ROWS.items()},
    "not-utf8": (HEADER + GOOD_ROW + f"139901001097,{TOWNSHIP},村卫生室,village,village_clinic,600\n").encode("gb18030"),
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20,
}  # fmt: skip


@pytest.mark.parametrize("content", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_roster_is_a_400_naming_the_problem_and_changes_nothing(
    portal: BadInputPortal, content: bytes
) -> None:
    before = portal.clinic_count()
    response = portal.import_roster(content)
    assert response.status_code == 400, response.text[-500:]
    assert 'class="error"' in response.text
    assert portal.clinic_count() == before  # not even the good row before the bad one


def roster_with(row: str) -> bytes:
    return (HEADER + row).encode()


@pytest.mark.parametrize(
    "filename", ["..", ".", "/", "a/../..", "..\\..\\x.csv", "x" * 400 + ".csv"]
)
def test_any_roster_file_name_imports_the_roster(portal: BadInputPortal, filename: str) -> None:
    code = f"1399010010{abs(hash(filename)) % 90 + 10}"
    row = f"{code},{TOWNSHIP},名称村卫生室,village,village_clinic,600\n"
    response = portal.import_roster(roster_with(row), filename)
    assert response.status_code == 200, response.text[-500:]
    assert 'id="import-result"' in response.text


def lecture(portal: BadInputPortal, **changes: Any) -> dict[str, Any]:
    return {
        "title": "基层常见皮肤病的识别",
        "audience": [{"clinic_id": portal.township_id(), "include_subtree": True}],
        "scheduled_start": "2030-03-01T09:00:00",
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"scheduled_start": "0001-01-01T00:00:00"}, "scheduled_start"),
        ({"scheduled_start": "0001-01-01T00:00:00+14:00"}, "scheduled_start"),
        ({"scheduled_start": "9999-12-31T23:59:59-12:00"}, "scheduled_start"),
        ({"audience": [{"clinic_id": ID_MAX + 1}]}, "audience"),
        ({"audience": [{"clinic_id": 2**63}]}, "audience"),
        ({"audience": [{"clinic_id": -1}]}, "audience"),
        ({"duration_minutes": 2**63}, "duration_minutes"),
        ({"attendance_share": 1e308}, "attendance_share"),
        ({"title": "血压\x00"}, "title"),
        ({"description": "\x00"}, "description"),
        ({"keywords": "高血压 \x00"}, "keywords"),
    ],
)
def test_api_drafts_beyond_what_the_database_holds_are_a_400(
    portal: BadInputPortal, changes: dict[str, Any], field: str
) -> None:
    before = portal.lecture_count()
    response = portal.specialist.request(
        "POST", "/api/v1/lectures/", json=lecture(portal, **changes)
    )
    assert response.status_code == 400, response.text
    assert field in response.text
    assert portal.lecture_count() == before


def test_the_same_clinic_twice_in_an_audience_is_one_entry(portal: BadInputPortal) -> None:
    township = portal.township_id()
    twice = [
        {"clinic_id": township, "include_subtree": True},
        {"clinic_id": township, "include_subtree": False},
    ]
    created = portal.specialist.request(
        "POST", "/api/v1/lectures/", json=lecture(portal, audience=twice)
    )
    assert created.status_code == 201, created.text
    form = {"title": "同一机构两次", "audience": [str(township), str(township)],
            "scheduled_start": "2030-03-01T09:00", "duration_minutes": "60", "attendance_percent": "50",
            "_csrf_token": portal.specialist.cookies.get("csrftoken", "")}  # fmt: skip
    page = portal.specialist.request("POST", "/lectures/new", data=form, follow_redirects=False)
    assert page.status_code == 303, page.text[-500:]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("description", "长" * 10_001),
        ("keywords", "词" * 1_001),
        ("title", "题" * 301),
        ("scheduled_start", "0001-01-01T00:00"),
        ("duration_minutes", "9" * 30),
        ("attendance_percent", "9" * 30),
        ("audience", "9" * 30),
        ("audience", "²"),  # a digit to str.isdigit, not to int()
        ("duration_minutes", "²"),
        ("attendance_percent", "³"),
    ],
)
def test_the_lecture_form_refuses_what_the_api_refuses_with_a_400_page(
    portal: BadInputPortal, field: str, value: str
) -> None:
    before = portal.lecture_count()
    form = {"title": "表单", "audience": str(portal.township_id()), "scheduled_start": "2030-03-01T09:00",
            "duration_minutes": "60", "attendance_percent": "50", field: value,
            "_csrf_token": portal.specialist.cookies.get("csrftoken", "")}  # fmt: skip
    page = portal.specialist.request("POST", "/lectures/new", data=form, follow_redirects=False)
    assert page.status_code == 400, page.text[-500:]
    assert f'id="error-{field}"' in page.text
    assert portal.lecture_count() == before


@pytest.mark.parametrize("lecture_id", [ID_MAX + 1, 2**63, 2**63 + 1, 10**30])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/lectures/{}",
        "/api/v1/lectures/{}/transcript",
        "/api/v1/lectures/{}/media",
        "/api/v1/lectures/{}/pipeline",
        "/lectures/{}",
        "/lectures/{}/watch",
        "/lectures/{}/hls/master.m3u8",
        "/lectures/{}/download",
    ],
)
def test_an_id_beyond_the_database_range_is_a_404(
    portal: BadInputPortal, path: str, lecture_id: int
) -> None:
    response = portal.specialist.request("GET", path.format(lecture_id), follow_redirects=False)
    assert response.status_code == 404, response.text[-300:]


def test_the_lecture_form_limits_what_the_draft_limits(portal: BadInputPortal) -> None:
    form = portal.specialist.request("GET", "/lectures/new").text
    assert '<textarea name="description" rows="4" maxlength="10000">' in form
    assert 'name="keywords" maxlength="1000"' in form
    assert 'min="2000-01-01T00:00" max="9998-12-31T23:59"' in form


@pytest.mark.parametrize("query", ["\x00", "血压\x00", "a" * 5_000, "\U0010ffff"])
def test_search_takes_any_query(portal: BadInputPortal, query: str) -> None:
    response = portal.specialist.request("GET", "/api/v1/search", params={"q": query})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "changes",
    [{"display_name": "王\x00医生"}, {"display_name": "名" * 201}, {"username": "u" * 81},
     {"region_code": "1" * 40}, {"role": "root"}],
)  # fmt: skip
def test_bad_user_fields_are_a_400(portal: BadInputPortal, changes: dict[str, str]) -> None:
    form = {"username": "new-user", "display_name": "王医生", "role": "doctor",
            "region_code": TOWNSHIP, "_csrf_token": portal.admin.cookies.get("csrftoken", ""),
            **changes}  # fmt: skip
    response = portal.admin.request("POST", "/admin/users", data=form)
    assert response.status_code == 400, response.text[-300:]


# -- generated input: no 500 from the lecture API and the roster import --------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)  # fmt: skip
AUDIENCE = st.lists(
    st.fixed_dictionaries({"clinic_id": st.integers(), "include_subtree": JSON_VALUES}) | JSON_VALUES,
    max_size=3,
)  # fmt: skip
DRAFTS = st.fixed_dictionaries(
    {"title": st.text(max_size=400) | JSON_VALUES, "audience": AUDIENCE},
    optional={
        "scheduled_start": st.datetimes().map(lambda d: d.isoformat()) | st.text(max_size=30) | JSON_VALUES,
        "description": st.text(max_size=50) | JSON_VALUES,
        "keywords": st.text(max_size=50) | JSON_VALUES,
        "language": st.sampled_from(["zh", "en", "fr", ""]) | JSON_VALUES,
        "duration_minutes": st.integers() | JSON_VALUES,
        "mandatory": JSON_VALUES,
        "attendance_share": st.floats(allow_nan=False, allow_infinity=False) | JSON_VALUES,
    },
)  # fmt: skip
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(body=DRAFTS | JSON_VALUES)
def test_generated_lecture_drafts_never_get_a_500(portal: BadInputPortal, body: Any) -> None:
    response = portal.specialist.request("POST", "/api/v1/lectures/", json=body)
    assert response.status_code in (201, 400), response.text


@FAST
@given(
    lecture_id=st.integers(min_value=-(2**70), max_value=2**70),
    tail=st.sampled_from(["", "/transcript", "/media", "/pipeline", "/upload"]),
)
def test_generated_lecture_ids_never_get_a_500(
    portal: BadInputPortal, lecture_id: int, tail: str
) -> None:
    response = portal.specialist.request("GET", f"/api/v1/lectures/{lecture_id}{tail}")
    assert response.status_code < 500, response.text


ROSTER_CELLS = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20
) | st.integers().map(str)


@FAST
@given(
    rows=st.lists(st.lists(ROSTER_CELLS, min_size=0, max_size=7), max_size=4),
    raw=st.binary(max_size=60),
)
def test_generated_rosters_never_get_a_500(
    portal: BadInputPortal, rows: list[list[str]], raw: bytes
) -> None:
    lines = [",".join(cells) for cells in rows]
    for content in ((HEADER + "\n".join(lines)).encode(), raw):
        response = portal.import_roster(content)
        assert response.status_code in (200, 400), response.text[-500:]


@FAST
@given(
    lecture_id=st.integers(min_value=-(2**40), max_value=2**70),
    segment_id=st.integers(min_value=-(2**40), max_value=2**70),
    body=st.fixed_dictionaries({"text": st.text(max_size=60) | JSON_VALUES}) | JSON_VALUES,
)
def test_generated_transcript_corrections_never_get_a_500(
    portal: BadInputPortal, lecture_id: int, segment_id: int, body: Any
) -> None:
    url = f"/api/v1/lectures/{lecture_id}/transcript/segments/{segment_id}"
    response = portal.specialist.request("PATCH", url, json=body)
    assert response.status_code in (400, 403, 404), response.text
