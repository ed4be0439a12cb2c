"""The admin pages: who may open them, the clinic tree and a bulk roster import (all or
nothing, with the line of a bad row), and creating users (a generated password shown once)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.support.web import ROLES, Portal, open_portal
from training.accounts.models import Role, TokenScope
from training.accounts.services import AccountService
from training.accounts.tokens import TokenService
from training.clinics.services import ClinicService

HEADER = "region_code,parent_region_code,name,level,kind,bandwidth_kbps\n"


@pytest.fixture(scope="module")
def portal(
    tmp_path_factory: pytest.TempPathFactory, embedded_s3: EmbeddedSeaweedFS
) -> Iterator[Portal]:
    with open_portal(tmp_path_factory.mktemp("admin"), embedded_s3) as portal:
        yield portal


def import_roster(portal: Portal, csv: str, filename: str = "roster.csv") -> Any:
    return portal.callers["admin"].post(
        "/admin/clinics", files={"roster": (filename, csv.encode(), "text/csv")}
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "url", "admin_status"),
    [
        ("GET", "/admin/clinics", 200),
        ("POST", "/admin/clinics", 400),  # no file: the admin gets the form back with why
        ("GET", "/admin/users", 200),
        ("POST", "/admin/users", 400),  # no username: likewise
    ],
)
def test_only_admins_open_the_admin_pages(
    portal: Portal, role: str, method: str, url: str, admin_status: int
) -> None:
    caller = portal.callers[role]
    kwargs: dict[str, Any] = {"headers": caller.csrf, "follow_redirects": False}
    if url == "/admin/clinics" and method == "POST":
        kwargs["files"] = {"not-a-roster": ("notes.txt", b"", "text/plain")}
    elif method == "POST":
        kwargs["data"] = {"role": "doctor"}
    response = caller.request(method, url, **kwargs)
    expected = {"admin": admin_status, "anon": 303}.get(role, 403)
    assert response.status_code == expected


@pytest.mark.parametrize("url", ["/admin/clinics", "/admin/users"])
def test_admin_pages_follow_tokens_and_close_to_a_deactivated_admin(
    portal: Portal, url: str
) -> None:
    """An admin's token reads the admin pages (a read-only one cannot post to them); once
    the admin is deactivated, neither their session nor their token opens them."""
    with portal.services.sessions() as session:
        accounts = AccountService(session)
        accounts.create(f"admin-{url[7:]}", "admin-pass-9", Role.ADMIN)
        session.commit()
    portal.passwords[f"admin-{url[7:]}"] = "admin-pass-9"
    caller = portal.as_user(portal.callers["admin"].client, f"admin-{url[7:]}", "admin-pass-9")
    with portal.services.sessions() as session:
        accounts = AccountService(session)
        admin = accounts.by_username(f"admin-{url[7:]}")
        assert admin is not None
        assert admin.id is not None
        token = TokenService(session).issue(admin, "reader", TokenScope.READ).secret
        session.commit()
    bearer = {"authorization": f"Bearer {token}"}
    client = caller.client
    client.cookies.clear()
    assert client.get(url, headers=bearer).status_code == 200
    assert client.post(url, headers=bearer, data={"role": "doctor"}).status_code == 403
    assert caller.get(url).status_code == 200
    with portal.services.sessions() as session:
        AccountService(session).set_active(admin.id, False)
        session.commit()
    assert caller.get(url, follow_redirects=False).status_code == 303  # to sign in
    client.cookies.clear()
    assert client.get(url, headers=bearer, follow_redirects=False).status_code == 303


def test_clinics_page_summarises_the_county_tree(portal: Portal) -> None:
    page = portal.callers["admin"].get("/admin/clinics").text
    assert "机构总数: <strong>308</strong>" in page
    assert "县级 4, 乡镇 18, 村 286" in page
    assert "城关镇卫生院" in page
    assert 'enctype="multipart/form-data"' in page


def test_roster_import_creates_new_clinics_updates_known_ones_and_says_how_many(
    portal: Portal,
) -> None:
    csv = (
        HEADER
        + "139901001000,139901000000,城关镇卫生院,township,township_centre,50000\n"  # unchanged
        + "139901001001,139901001000,黎塘村卫生室,village,village_clinic,2000\n"  # faster link
        + "139901001099,139901001000,新建村卫生室,village,village_clinic,600\n"  # new
    )
    response = import_roster(portal, csv)
    assert response.status_code == 200
    assert "导入完成: 新增 1, 更新 1" in response.text
    with portal.services.sessions() as session:
        clinics = ClinicService(session)
        new = clinics.by_region_code("139901001099")
        parent = clinics.by_region_code("139901001000")
        assert new is not None
        assert parent is not None
        assert new.parent_id == parent.id
        updated = clinics.by_region_code("139901001001")
        assert updated is not None
        assert updated.bandwidth_kbps == 2000
    again = import_roster(portal, csv)
    assert "新增 0, 更新 0" in again.text  # importing the same roster twice changes nothing


def test_a_bad_roster_line_is_named_and_nothing_is_imported(portal: Portal) -> None:
    csv = (
        HEADER
        + "139901001098,139901001000,先导村卫生室,village,village_clinic,600\n"
        + "139901001097,139901001000,坏行村卫生室,city,village_clinic,600\n"
    )
    response = import_roster(portal, csv, "乡镇名册.csv")
    assert response.status_code == 400
    assert "乡镇名册.csv line 3" in response.text
    assert "&#39;city&#39; is not a valid ClinicLevel" in response.text
    with portal.services.sessions() as session:
        assert ClinicService(session).by_region_code("139901001098") is None
    missing = import_roster(portal, "region_code,name\n1,x\n")
    assert missing.status_code == 400
    assert "missing columns bandwidth_kbps, kind, level, parent_region_code" in missing.text
    orphan = import_roster(
        portal, HEADER + "139901777001,139901777000,孤村,village,village_clinic,1\n"
    )
    assert orphan.status_code == 400
    assert "parent 139901777000 is not in the roster above it" in orphan.text


def test_roster_import_moves_a_clinic_to_its_new_township_and_says_so_in_both_languages(
    portal: Portal,
) -> None:
    moved = HEADER + "139901001002,139901002000,迁入村卫生室,village,village_clinic,800\n"
    response = import_roster(portal, moved)
    assert response.status_code == 200
    assert "导入完成: 新增 0, 更新 0, 移动 1" in response.text
    with portal.services.sessions() as session:
        clinics = ClinicService(session)
        village = clinics.by_region_code("139901001002")
        township = clinics.by_region_code("139901002000")
        assert village is not None
        assert township is not None
        assert village.parent_id == township.id
        assert village.path == f"{township.path}{village.id}/"
        AccountService(session).create("admin-en", "admin-pass-9", Role.ADMIN, locale="en")
        session.commit()
    portal.passwords["admin-en"] = "admin-pass-9"
    english = portal.as_user(portal.callers["admin"].client, "admin-en", "admin-pass-9")
    back = HEADER + "139901001002,139901001000,迁入村卫生室,village,village_clinic,800\n"
    page = english.post("/admin/clinics", files={"roster": ("r.csv", back.encode(), "text/csv")})
    assert "Imported: created 0, updated 0, moved 1" in page.text


def test_admin_creates_a_user_whose_generated_password_is_shown_once_and_works(
    portal: Portal,
) -> None:
    admin = portal.callers["admin"]
    response = admin.post(
        "/admin/users",
        data={
            "username": "new-doctor",
            "display_name": "新村医",
            "role": "doctor",
            "region_code": "139901001002",
            "locale": "en",
            "password": "",
        },
    )
    assert response.status_code == 200
    password = (
        response.text.split('id="user-password"', 1)[1].split("<code>", 1)[1].split("</code>", 1)[0]
    )
    assert len(password) >= 12
    assert "新村医" in response.text  # now in the list
    assert password not in admin.get("/admin/users").text  # shown once only
    with portal.services.sessions() as session:
        user = AccountService(session).by_username("new-doctor")
        assert user is not None
        assert (user.role, user.locale) == (Role.DOCTOR, "en")
    portal.passwords["new-doctor"] = password
    doctor = portal.as_user(admin.client, "new-doctor", password)
    assert "Lectures" in doctor.get("/lectures").text  # their own locale


def test_a_chosen_password_is_kept_and_not_shown(portal: Portal) -> None:
    response = portal.callers["admin"].post(
        "/admin/users",
        data={"username": "new-specialist", "role": "specialist", "password": "chosen-pass-1"},
    )
    assert response.status_code == 200
    assert 'id="user-created"' in response.text
    assert 'id="user-password"' not in response.text


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"username": "admin", "role": "admin"}, "username &#39;admin&#39; is taken"),
        ({"username": "no-clinic", "role": "doctor"}, "a doctor belongs to a clinic: give one"),
        (
            {"username": "bad-code", "role": "doctor", "region_code": "000"},
            "no clinic has the region code 000",
        ),
        (
            {"username": "no role", "role": "doctor", "region_code": "139901001001"},
            "use 2–80 letters",
        ),
        (
            {"username": "short-pass", "role": "specialist", "password": "short"},
            "at least 8 characters",
        ),
        ({"username": "what-role", "role": "superuser"}, "choose a role"),
    ],
)
def test_user_creation_mistakes_are_shown_with_the_form_filled_in(
    portal: Portal, form: dict[str, str], message: str
) -> None:
    response = portal.callers["admin"].post("/admin/users", data=form)
    assert response.status_code == 400
    assert message in response.text
    assert f'value="{form["username"]}"' in response.text
