"""Sample data for demos and first looks: the county roster, demo users, a few lectures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path

from sqlmodel import Session

from training.accounts.models import Role, User
from training.accounts.services import AccountService, generate_password
from training.base import utcnow
from training.clinics.services import ClinicService, read_roster
from training.lectures.models import Language, Lecture
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.search.services import SearchService


def sample_roster() -> Path:
    return Path(str(resources.files("samples") / "roster.csv"))


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    display_name: str
    region_code: str | None


DEMO_USERS = (
    DemoUser("admin", Role.ADMIN, "系统管理员", None),
    DemoUser("coordinator", Role.COORDINATOR, "县卫健局 王协调员", "139901000000"),
    DemoUser("specialist", Role.SPECIALIST, "县人民医院 李主任", "139901000001"),
    DemoUser("township-doctor", Role.DOCTOR, "城关镇卫生院 赵医生", "139901001000"),
    DemoUser("village-doctor", Role.DOCTOR, "村卫生室 刘医生", "139901001001"),
)


DEMO_LECTURES = (
    ("老年高血压患者的降压药调整", "高血压 降压药 老年患者", 2, True),
    ("儿童发热的分级处理与转诊", "发热 儿童 转诊", 5, False),
    ("Diabetes follow-up in village clinics", "diabetes insulin HbA1c", 9, False),
)


def seed(session: Session, roster: Path | None = None) -> tuple[int, list[tuple[str, str]]]:
    """Load the roster and create the demo users and lectures that are missing.

    Returns (clinics created, [(username, password)] of the users created now — the only
    time their passwords exist in clear). Running it again changes nothing.
    """
    clinics = ClinicService(session)
    created_clinics = clinics.import_roster(read_roster(roster or sample_roster())).created
    accounts = AccountService(session)
    new_users: list[tuple[str, str]] = []
    for demo in DEMO_USERS:
        if accounts.by_username(demo.username) is not None:
            continue
        clinic = clinics.by_region_code(demo.region_code) if demo.region_code else None
        password = generate_password()
        accounts.create(
            demo.username, password, demo.role, display_name=demo.display_name, clinic=clinic
        )
        new_users.append((demo.username, password))
    specialist = accounts.by_username("specialist")
    if specialist is not None and not session.get(Lecture, 1):
        _seed_lectures(session, clinics, specialist)
    session.commit()
    return created_clinics, new_users


def _seed_lectures(session: Session, clinics: ClinicService, specialist: User) -> None:
    lectures = LectureService(session, SearchService(session))
    county = clinics.by_region_code("139901000000")
    assert county is not None
    assert county.id is not None
    start = utcnow().replace(minute=0, second=0, microsecond=0)
    for title, keywords, days, mandatory in DEMO_LECTURES:
        draft = LectureDraft(
            title,
            audience=[(county.id, True)],
            scheduled_start=start + timedelta(days=days, hours=1),
            keywords=keywords,
            language=Language.ZH if not title.isascii() else Language.EN,
            mandatory=mandatory,
        )
        lectures.schedule(specialist, draft)
