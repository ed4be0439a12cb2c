"""The first domain objects on SQLite and PostgreSQL: the clinic tree, users, and who may see
which lecture."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from infra.seed import sample_roster, seed
from training.accounts.models import Role, User
from training.accounts.services import AccountService
from training.base import utcnow
from training.clinics.models import Clinic, ClinicKind, ClinicLevel
from training.clinics.services import ClinicService, read_roster
from training.errors import ConflictError, NotInAudience, ValidationError
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.search.services import SearchService


@pytest.fixture
def county(session: Session) -> ClinicService:
    clinics = ClinicService(session)
    clinics.import_roster(read_roster(sample_roster()))
    session.commit()
    return clinics


def clinic(clinics: ClinicService, code: str) -> Clinic:
    found = clinics.by_region_code(code)
    assert found is not None
    return found


def clinic_id(clinics: ClinicService, code: str) -> int:
    found = clinic(clinics, code).id
    assert found is not None
    return found


def test_sample_roster_is_one_county_with_18_townships_and_286_villages(
    county: ClinicService,
) -> None:
    root = clinic(county, "139901000000")
    tree = county.subtree(root)
    assert len(tree) == 308
    assert sum(c.level is ClinicLevel.TOWNSHIP for c in tree) == 18
    assert sum(c.level is ClinicLevel.VILLAGE for c in tree) == 286
    assert {c.kind for c in tree if c.level is ClinicLevel.COUNTY} == {
        ClinicKind.BUREAU, ClinicKind.HOSPITAL, ClinicKind.CDC, ClinicKind.EMERGENCY,
    }  # fmt: skip
    assert all(
        name.endswith("村卫生室")
        for name in (c.name for c in tree if c.level is ClinicLevel.VILLAGE)
    )


def test_importing_the_roster_twice_changes_nothing(
    county: ClinicService, session: Session
) -> None:
    assert county.import_roster(read_roster(sample_roster())) == (0, 0)
    assert county.count() == 308


def test_subtree_and_ancestors_follow_the_tree(county: ClinicService) -> None:
    township = clinic(county, "139901001000")
    village = clinic(county, "139901001001")
    assert [c.region_code for c in county.ancestors(village)] == ["139901000000", "139901001000"]
    subtree = county.subtree(township)
    assert subtree[0].id == township.id
    assert len(subtree) == 17  # the centre and its 16 village clinics
    assert county.subtree_ids([township.id or 0]) == {c.id for c in subtree}


def test_roster_row_with_unknown_parent_is_refused_with_its_line(
    tmp_path: Path, session: Session
) -> None:
    roster = tmp_path / "bad.csv"
    roster.write_text(
        "region_code,parent_region_code,name,level,kind,bandwidth_kbps\n"
        "1,,县,county,bureau,1000\n"
        "2,9,孤儿村卫生室,village,village_clinic,500\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError, match="parent 9"):
        ClinicService(session).import_roster(read_roster(roster))
    roster.write_text("region_code,name\n1,x\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="missing columns"):
        list(read_roster(roster))


def test_passwords_are_stored_as_argon2_hashes_and_checked(
    session: Session, county: ClinicService
) -> None:
    accounts = AccountService(session)
    user = accounts.create(
        "dr.wang", "correct horse", Role.DOCTOR, clinic=clinic(county, "139901001001")
    )
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash
    assert accounts.authenticate("dr.wang", "correct horse") is not None
    assert accounts.authenticate("dr.wang", "wrong horse!") is None
    assert accounts.authenticate("nobody", "correct horse") is None


def test_account_rules_are_enforced(session: Session, county: ClinicService) -> None:
    accounts = AccountService(session)
    with pytest.raises(ValidationError, match="belongs to a clinic"):
        accounts.create("doc", "long enough", Role.DOCTOR)
    with pytest.raises(ValidationError, match="at least 8"):
        accounts.create("doc", "short", Role.SPECIALIST)
    with pytest.raises(ValidationError, match="username"):
        accounts.create("bad name!", "long enough", Role.SPECIALIST)
    accounts.create("spec", "long enough", Role.SPECIALIST)
    with pytest.raises(ConflictError):
        accounts.create("spec", "long enough", Role.SPECIALIST)


def _user(session: Session, county: ClinicService, name: str, role: Role, code: str | None) -> User:
    return AccountService(session).create(
        name, "long enough", role, clinic=clinic(county, code) if code else None
    )


def test_lecture_is_visible_only_to_its_audience(session: Session, county: ClinicService) -> None:
    specialist = _user(session, county, "spec", Role.SPECIALIST, "139901000001")
    lectures = LectureService(session, SearchService(session))
    draft = LectureDraft(
        "老年高血压患者的降压药调整",
        audience=[
            (clinic_id(county, "139901001000"), True),
            (clinic_id(county, "139901002000"), True),
        ],
        scheduled_start=utcnow() + timedelta(days=1),
    )
    lecture = lectures.schedule(specialist, draft)
    assert lecture.id is not None
    inside = _user(session, county, "village-in", Role.DOCTOR, "139901001005")
    outside = _user(session, county, "village-out", Role.DOCTOR, "139901003005")
    county_coordinator = _user(session, county, "coord", Role.COORDINATOR, "139901000000")
    other_coordinator = _user(session, county, "coord-3", Role.COORDINATOR, "139901003000")
    admin = _user(session, county, "root", Role.ADMIN, None)
    session.commit()

    for user in (inside, county_coordinator, admin, specialist):
        assert [lec.id for lec in lectures.visible_to(user)] == [lecture.id], user.username
        assert lectures.get_for(user, lecture.id).id == lecture.id
    for user in (outside, other_coordinator):
        assert lectures.visible_to(user) == [], user.username
        with pytest.raises(NotInAudience):
            lectures.get_for(user, lecture.id)


def test_audience_without_subtree_covers_only_that_clinic(
    session: Session, county: ClinicService
) -> None:
    specialist = _user(session, county, "spec", Role.SPECIALIST, None)
    lectures = LectureService(session, SearchService(session))
    draft = LectureDraft("乡镇卫生院院长会", audience=[(clinic_id(county, "139901001000"), False)])
    lectures.schedule(specialist, draft)
    centre_doctor = _user(session, county, "centre", Role.DOCTOR, "139901001000")
    village_doctor = _user(session, county, "village", Role.DOCTOR, "139901001001")
    assert len(lectures.visible_to(centre_doctor)) == 1
    assert lectures.visible_to(village_doctor) == []


def test_only_specialists_schedule_lectures_and_need_an_audience(
    session: Session, county: ClinicService
) -> None:
    doctor = _user(session, county, "doc", Role.DOCTOR, "139901001001")
    specialist = _user(session, county, "spec", Role.SPECIALIST, None)
    lectures = LectureService(session, SearchService(session))
    from training.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        lectures.schedule(
            doctor, LectureDraft("x", audience=[(clinic_id(county, "139901001001"), True)])
        )
    with pytest.raises(ValidationError, match="audience"):
        lectures.schedule(specialist, LectureDraft("x", audience=[]))


def test_seed_is_idempotent_and_prints_passwords_only_once(session: Session) -> None:
    created, users = seed(session)
    assert created == 308
    assert sorted(name for name, _ in users) == sorted(
        ["admin", "coordinator", "specialist", "township-doctor", "village-doctor"]
    )
    created_again, users_again = seed(session)
    assert (created_again, users_again) == (0, [])
    village_doctor = AccountService(session).authenticate(
        "village-doctor", dict(users)["village-doctor"]
    )
    assert village_doctor is not None
    assert len(LectureService(session).visible_to(village_doctor)) == 3
