"""The first domain objects on SQLite and PostgreSQL: the clinic tree, users, and who may see
which lecture."""

from __future__ import annotations

import csv
from datetime import timedelta
from itertools import product
from pathlib import Path

import pytest
from sqlmodel import Session, select

from infra.seed import sample_roster, seed
from training.accounts.models import Role, User
from training.accounts.services import AccountService
from training.base import utcnow
from training.clinics.models import Clinic, ClinicKind, ClinicLevel
from training.clinics.services import ClinicService, read_roster
from training.errors import ConflictError, LectureNotFound, NotInAudience, ValidationError
from training.lectures.models import Lecture, LectureStatus
from training.lectures.rules import LectureDraft, NotWatchable, may_watch
from training.lectures.services import MEDIA_ASSET, MEDIA_READY, LectureService
from training.media.models import MediaAsset, MediaState
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
    assert county.import_roster(read_roster(sample_roster())) == (0, 0, 0)
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


# -- roster re-import: moves, bad rows -------------------------------------------------------

TREE = (
    "region_code,parent_region_code,name,level,kind,bandwidth_kbps\n"
    "100,,县,county,bureau,100000\n"
    "110,100,东镇卫生院,township,township_centre,20000\n"
    "120,100,西镇卫生院,township,township_centre,20000\n"
    "111,110,东村卫生室,village,village_clinic,800\n"
    "112,111,东村卫生室分点,village,village_clinic,500\n"
)


def write_roster(folder: Path, text: str) -> Path:
    roster = folder / "roster.csv"
    roster.write_text(text, encoding="utf-8")
    return roster


def test_reimport_moves_a_clinic_and_its_subtree_to_its_new_township(
    tmp_path: Path, session: Session
) -> None:
    clinics = ClinicService(session)
    clinics.import_roster(read_roster(write_roster(tmp_path, TREE)))
    moved_tree = TREE.replace(
        "111,110,东村卫生室,village,village_clinic,800",
        "111,120,东村卫生室,village,village_clinic,900",
    )
    summary = clinics.import_roster(read_roster(write_roster(tmp_path, moved_tree)))
    session.commit()
    assert (summary.created, summary.updated, summary.moved) == (0, 0, 1)
    east, west = clinic(clinics, "110"), clinic(clinics, "120")
    village, outpost = clinic(clinics, "111"), clinic(clinics, "112")
    assert village.parent_id == west.id
    assert village.bandwidth_kbps == 900
    assert village.path == f"{west.path}{village.id}/"
    assert outpost.path == f"{west.path}{village.id}/{outpost.id}/"
    assert [c.region_code for c in clinics.subtree(west)] == ["120", "111", "112"]
    assert [c.region_code for c in clinics.subtree(east)] == ["110"]
    assert [c.region_code for c in clinics.ancestors(outpost)] == ["100", "120", "111"]
    assert clinics.import_roster(read_roster(write_roster(tmp_path, moved_tree))) == (0, 0, 0)


def test_a_lecture_for_the_new_township_reaches_a_moved_clinic(
    tmp_path: Path, session: Session
) -> None:
    clinics = ClinicService(session)
    clinics.import_roster(read_roster(write_roster(tmp_path, TREE)))
    doctor = AccountService(session).create(
        "outpost", "long enough", Role.DOCTOR, clinic=clinic(clinics, "112")
    )
    specialist = AccountService(session).create("spec", "long enough", Role.SPECIALIST)
    lectures = LectureService(session, SearchService(session))
    west = lectures.schedule(
        specialist, LectureDraft("西镇", audience=[(clinic_id(clinics, "120"), True)])
    )
    assert lectures.visible_to(doctor) == []
    clinics.import_roster(read_roster(write_roster(tmp_path, TREE.replace("111,110,", "111,120,"))))
    session.commit()
    assert [lecture.id for lecture in lectures.visible_to(doctor)] == [west.id]


def test_a_move_under_the_clinic_s_own_subtree_is_refused(tmp_path: Path, session: Session) -> None:
    clinics = ClinicService(session)
    clinics.import_roster(read_roster(write_roster(tmp_path, TREE)))
    session.commit()
    cycle = TREE + "110,112,东镇卫生院,township,township_centre,20000\n"
    with pytest.raises(ValidationError, match="below it"):
        clinics.import_roster(read_roster(write_roster(tmp_path, cycle)))
    session.rollback()
    assert clinic(clinics, "110").parent_id == clinic_id(clinics, "100")


BAD_ROWS = {
    "name-over-200": "113,110," + "长" * 201 + ",village,village_clinic,800",
    "region-code-over-12": "1130000000000,110,村,village,village_clinic,800",
    "empty-region-code": ",110,村,village,village_clinic,800",
    "negative-bandwidth": "113,110,村,village,village_clinic,-1",
    "bandwidth-over-integer": f"113,110,村,village,village_clinic,{2**31}",
    "nul-in-name": "113,110,村\x00,village,village_clinic,800",
}


@pytest.mark.parametrize("row", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_a_row_beyond_the_columns_limits_is_refused_before_the_database_sees_it(
    tmp_path: Path, session: Session, row: str
) -> None:
    """On PostgreSQL such a row raised DataError (a 500 in the portal); SQLite stored it."""
    with pytest.raises(ValidationError, match="line 7"):
        ClinicService(session).import_roster(read_roster(write_roster(tmp_path, TREE + row + "\n")))


def test_a_roster_that_is_not_utf8_or_not_csv_is_a_validation_error(tmp_path: Path) -> None:
    roster = tmp_path / "gbk.csv"
    roster.write_bytes(TREE.encode("gb18030"))
    with pytest.raises(ValidationError, match="UTF-8"):
        list(read_roster(roster))
    roster.write_text(
        TREE + '113,110,"' + "x" * (csv.field_size_limit() + 1) + '",village,village_clinic,1\n'
    )
    with pytest.raises(ValidationError, match="CSV"):
        list(read_roster(roster, "名册.csv"))


# -- the watch rule: "the audience may watch this lecture" ---------------------------------

MEDIA: dict[str, tuple[MediaState, bool] | None] = {
    "no-media": None,
    "ready": (MediaState.READY, True),
    "ready-without-ladder": (MediaState.READY, False),
    "processing-with-ladder": (MediaState.PROCESSING, True),  # a re-upload being processed
    "failed-with-ladder": (MediaState.FAILED, True),
}


@pytest.mark.parametrize("status", list(LectureStatus))
@pytest.mark.parametrize("media_ready", [False, True])
def test_may_watch_opens_a_lecture_when_live_ended_or_playable_and_never_when_cancelled(
    status: LectureStatus, media_ready: bool
) -> None:
    lecture = Lecture(id=7, title="x", specialist_id=2, status=status)
    doctor = User(id=5, username="doc", display_name="", password_hash="", role=Role.DOCTOR)
    owner = User(id=2, username="spec", display_name="", password_hash="", role=Role.SPECIALIST)
    admin = User(id=1, username="root", display_name="", password_hash="", role=Role.ADMIN)
    open_to_audience = status is not LectureStatus.CANCELLED and (
        media_ready or status in (LectureStatus.LIVE, LectureStatus.ENDED)
    )
    assert may_watch(doctor, lecture, media_ready) is open_to_audience
    assert may_watch(owner, lecture, media_ready)
    assert may_watch(admin, lecture, media_ready)


def _lecture_with(
    session: Session, specialist: User, audience: int, status: LectureStatus, media: str
) -> Lecture:
    lecture = LectureService(session, SearchService(session)).schedule(
        specialist, LectureDraft(f"{status.value} {media}", audience=[(audience, True)])
    )
    lecture.status = status
    session.add(lecture)
    found = MEDIA[media]
    if found is not None:
        state, ladder = found
        prefix = f"lectures/{lecture.id}/attempts/g1-1-test/" if ladder else None
        session.add(MediaAsset(lecture_id=lecture.id or 0, state=state, hls_prefix=prefix,
                               master="master.m3u8" if ladder else None))  # fmt: skip
    return lecture


def test_the_watch_rule_in_sql_agrees_with_may_watch_for_every_status_media_and_role(
    session: Session, county: ClinicService
) -> None:
    owner = _user(session, county, "spec", Role.SPECIALIST, "139901000001")
    township = clinic_id(county, "139901001000")
    lectures = [
        _lecture_with(session, owner, township, status, media)
        for status in LectureStatus
        for media in MEDIA
    ]
    users = [
        owner,
        _user(session, county, "in", Role.DOCTOR, "139901001005"),
        _user(session, county, "out", Role.DOCTOR, "139901003005"),
        _user(session, county, "coord", Role.COORDINATOR, "139901000000"),
        _user(session, county, "other-spec", Role.SPECIALIST, None),
        _user(session, county, "root", Role.ADMIN, None),
    ]
    session.commit()
    service = LectureService(session)
    playable = {"ready"}
    for user in users:
        in_audience = user.username in ("spec", "in", "coord", "root")
        expected = {
            lecture.id
            for lecture, (status, media) in zip(lectures, product(LectureStatus, MEDIA), strict=True)
            if in_audience
            and (
                user.username in ("spec", "root")
                or (status is not LectureStatus.CANCELLED
                    and (media in playable or status in (LectureStatus.LIVE, LectureStatus.ENDED)))
            )
        }  # fmt: skip
        query = select(Lecture.id).where(service.watchable_clause(user))
        assert set(session.exec(query)) == expected, user.username
        for lecture in lectures:
            assert lecture.id is not None
            watchable = lecture.id in expected
            assert service.still_watchable(user.id or 0, lecture.id) is watchable
            if watchable:
                assert service.watchable_for(user, lecture.id).id == lecture.id
            else:
                with pytest.raises((NotWatchable, NotInAudience)):
                    service.watchable_for(user, lecture.id)
    doctor = users[1]
    doctor.is_active = False  # deactivated: no signed URL of theirs is watchable any more
    session.add(doctor)
    session.commit()
    assert not any(service.still_watchable(doctor.id or 0, lecture.id or 0) for lecture in lectures)
    assert not service.still_watchable(10**12, lectures[0].id or 0)
    with pytest.raises(LectureNotFound):
        service.watchable_for(users[-1], 2**63)


def test_the_media_columns_the_watch_rule_reads_are_media_asset_s() -> None:
    table = MediaAsset.__table__  # type: ignore[attr-defined]
    assert MEDIA_ASSET.name == table.name
    assert {column.name for column in MEDIA_ASSET.c} <= {column.name for column in table.c}
    assert MediaState.READY.value == MEDIA_READY
