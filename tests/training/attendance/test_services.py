"""Heartbeat ingestion and attendance accounting on SQLite and PostgreSQL: per-item
rejections, idempotency, aggregates equal to the union of what was played, the figures per
clinic and user, who is watching now and a doctor's training record."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from infra.seed import sample_roster
from training.accounts.models import Role, User
from training.accounts.services import AccountService
from training.attendance import intervals
from training.attendance.ingest import RecentTimelines
from training.attendance.models import Heartbeat, ViewingSession
from training.attendance.rules import LectureTimeline
from training.attendance.services import AttendanceAccounting, AttendanceIngest
from training.base import utcnow
from training.clinics.services import ClinicService, read_roster
from training.lectures.models import Lecture
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.media.models import MediaAsset, MediaState
from training.search.services import SearchService

NOW = utcnow().replace(microsecond=0)


@dataclass
class County:
    lecture: Lecture  # for township 1's subtree, on air for 30 min, 60 min long
    draft: Lecture  # never scheduled: never live
    doctors: dict[str, User]  # village-a, village-a2 (same clinic), village-b, centre, outside

    def id(self, name: str) -> int:
        user_id = self.doctors[name].id
        assert user_id is not None
        return user_id


@pytest.fixture
def county(session: Session) -> County:
    clinics = ClinicService(session)
    clinics.import_roster(read_roster(sample_roster()))
    accounts = AccountService(session)
    codes = {"village-a": "139901001001", "village-a2": "139901001001",
             "village-b": "139901001002", "centre": "139901001000", "outside": "139901009001"}  # fmt: skip
    doctors = {
        name: accounts.create(name, "long enough", Role.DOCTOR, clinic=clinics.by_region_code(code))
        for name, code in codes.items()
    }
    specialist = accounts.create("spec", "long enough", Role.SPECIALIST)
    lectures = LectureService(session, SearchService(session))
    township = clinics.by_region_code("139901001000")
    assert township is not None
    audience = [(township.id or 0, True)]
    lecture = lectures.schedule(
        specialist, LectureDraft("高血压", audience, scheduled_start=NOW - timedelta(minutes=30))
    )
    draft = lectures.schedule(specialist, LectureDraft("糖尿病", audience))
    session.commit()
    return County(lecture, draft, doctors)


def beat(seq: int, start: float, end: float, **changes: Any) -> dict[str, Any]:
    return {"session_id": "session-aaaa", "seq": seq, "lecture_id": 1, "mode": "vod",
            "start": start, "end": end, "playing": True, "rendition": "360", "stalls": 0,
            "stalled": 0.0, "head_count": 1, "sent_at": NOW.isoformat(), **changes}  # fmt: skip


def ingest(session: Session, user: User, items: list[Any]) -> dict[str, Any]:
    result = AttendanceIngest(session).ingest(user, items, now=NOW)
    session.commit()
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": [(r.index, r.code.value) for r in result.rejected],
    }


def test_valid_heartbeats_are_kept_beside_rejected_ones(session: Session, county: County) -> None:
    lecture_id = county.lecture.id
    batch = [
        beat(0, 0, 15, lecture_id=lecture_id),
        beat(1, 15, 30, lecture_id=lecture_id, head_count=0),  # invalid head count
        beat(2, 15, 30, lecture_id=lecture_id),
        beat(3, 30, 3700, lecture_id=lecture_id),  # the lecture is 3600 s
        beat(4, 30, 45, lecture_id=lecture_id, sent_at=(NOW + timedelta(hours=1)).isoformat()),
        beat(5, 30, 45, lecture_id=lecture_id, session_id="short"),
        "not an object",
        beat(6, 45, 45, lecture_id=lecture_id, mode="live"),
        beat(7, 30, 2500, lecture_id=lecture_id, mode="live"),  # on air for 1800 s only
        beat(0, 0, 15, lecture_id=county.draft.id, session_id="session-draft", mode="live"),
    ]
    assert ingest(session, county.doctors["village-a"], batch) == {
        "accepted": 3,
        "duplicates": 0,
        "rejected": [(1, "invalid"), (3, "beyond_length"), (4, "in_the_future"),
                     (5, "invalid"), (6, "invalid"), (8, "in_the_future"), (9, "invalid")],
    }  # fmt: skip


def test_a_repeated_batch_counts_once(session: Session, county: County) -> None:
    doctor = county.doctors["village-a"]
    batch = [beat(seq, seq * 15, seq * 15 + 15, lecture_id=county.lecture.id) for seq in range(4)]
    assert ingest(session, doctor, batch)["accepted"] == 4
    again = ingest(
        session, doctor, [*batch[2:], batch[0], beat(4, 60, 75, lecture_id=county.lecture.id)]
    )
    assert (again["accepted"], again["duplicates"]) == (1, 3)
    twice_in_one = ingest(session, doctor, [beat(5, 75, 90, lecture_id=county.lecture.id)] * 2)
    assert (twice_in_one["accepted"], twice_in_one["duplicates"]) == (1, 1)
    assert len(session.exec(select(Heartbeat)).all()) == 6
    stored = session.exec(select(ViewingSession)).one()
    assert stored.vod_intervals == [[0.0, 90.0]]
    assert stored.last_seq == 5


def test_a_doctor_outside_the_audience_is_refused(session: Session, county: County) -> None:
    result = ingest(
        session, county.doctors["outside"], [beat(0, 0, 15, lecture_id=county.lecture.id)]
    )
    assert result == {"accepted": 0, "duplicates": 0, "rejected": [(0, "not_in_audience")]}
    assert session.exec(select(ViewingSession)).all() == []


def test_a_session_keeps_its_lecture(session: Session, county: County) -> None:
    doctor = county.doctors["village-a"]
    ingest(session, doctor, [beat(0, 0, 15, lecture_id=county.lecture.id)])
    other = ingest(session, doctor, [beat(1, 0, 15, lecture_id=county.draft.id)])
    assert other["rejected"] == [(0, "invalid")]


def test_the_recording_length_replaces_the_scheduled_one_once_the_ladder_exists(
    session: Session, county: County
) -> None:
    lecture_id = county.lecture.id
    assert lecture_id is not None
    session.add(MediaAsset(lecture_id=lecture_id, state=MediaState.READY, duration=600.0,
                           hls_prefix="lectures/1/attempts/g1/"))  # fmt: skip
    session.commit()
    result = ingest(session, county.doctors["village-a"], [beat(0, 0, 900, lecture_id=lecture_id)])
    assert result["rejected"] == [(0, "beyond_length")]
    ingest(session, county.doctors["village-a"], [beat(1, 0, 305, lecture_id=lecture_id)])
    figures = AttendanceAccounting(session).lecture_figures(lecture_id)
    assert figures.length_s == 600.0
    clinic = next(iter(figures.clinics.values()))
    assert (clinic.watched_s, clinic.share, clinic.attended) == (305.0, 305 / 600, True)


def test_figures_per_clinic_and_user_are_unions_over_sessions_and_modes(
    session: Session, county: County
) -> None:
    lecture_id = county.lecture.id
    assert lecture_id is not None
    a, a2, b = (
        county.doctors["village-a"],
        county.doctors["village-a2"],
        county.doctors["village-b"],
    )
    # Doctor a: live 0–900 (head count 3, then 4), later on demand 600–1500 with a rewind.
    ingest(session, a, [beat(0, 0, 600, lecture_id=lecture_id, mode="live", head_count=3),
                        beat(1, 600, 900, lecture_id=lecture_id, mode="live", head_count=4,
                             stalls=2, stalled=3.0, rendition="audio")])  # fmt: skip
    ingest(session, a, [beat(0, 600, 1500, lecture_id=lecture_id, session_id="session-bbbb"),
                        beat(1, 1000, 1200, lecture_id=lecture_id, session_id="session-bbbb")])  # fmt: skip
    # Doctor a2 of the same clinic: 1400–2000, head count 2. Doctor b: 0–1000 of another.
    ingest(session, a2, [beat(0, 1400, 2000, lecture_id=lecture_id, head_count=2)])
    ingest(session, b, [beat(0, 0, 1000, lecture_id=lecture_id, session_id="session-cccc")])
    figures = AttendanceAccounting(session).lecture_figures(lecture_id)
    assert figures.length_s == 3600.0
    village_a, village_b = a.clinic_id, b.clinic_id
    assert village_a is not None
    assert village_b is not None
    assert set(figures.clinics) == {village_a, village_b}
    clinic = figures.clinics[village_a]
    assert (clinic.watched_s, clinic.live_s, clinic.vod_s) == (2000.0, 900.0, 1400.0)
    assert clinic.share == pytest.approx(2000 / 3600)
    assert clinic.attended  # 0.5 is the default share
    assert (clinic.head_count, clinic.viewers, clinic.sessions) == (4 + 2, 2, 3)
    assert (clinic.stalls, clinic.stalled_s) == (2, 3.0)
    assert clinic.played_s == 600 + 300 + 900 + 200 + 600
    assert clinic.stalls_per_hour == pytest.approx(2 / (2600 / 3600))
    assert clinic.stalled_share == pytest.approx(3 / 2603)
    assert clinic.main_rendition == "360"
    assert not figures.clinics[village_b].attended
    assert figures.clinics[village_b].watched_s == 1000.0
    user = figures.users[a.id or 0]
    assert (user.watched_s, user.live_s, user.vod_s, user.head_count) == (1500.0, 900.0, 900.0, 4)


def test_watching_now_and_the_training_record(session: Session, county: County) -> None:
    lecture_id = county.lecture.id
    assert lecture_id is not None
    doctor = county.doctors["centre"]
    AttendanceIngest(session).ingest(doctor, [beat(0, 0, 1800, lecture_id=lecture_id, mode="live", head_count=12)], now=NOW - timedelta(minutes=5))  # fmt: skip
    AttendanceIngest(session).ingest(doctor, [beat(0, 0, 60, lecture_id=lecture_id, session_id="session-new1")], now=NOW)  # fmt: skip
    session.commit()
    accounting = AttendanceAccounting(session)
    now = accounting.watching_now(lecture_id, now=NOW + timedelta(seconds=10))
    assert [(w.user_id, w.head_count, w.mode.value, w.rendition) for w in now] == [
        (doctor.id, 1, "vod", "360")
    ]
    record = accounting.user_record(doctor.id or 0)
    assert [(r.lecture_id, r.title, r.watched_s, r.hours) for r in record] == [
        (lecture_id, "高血压", 1800.0, 0.5)
    ]
    assert accounting.user_record(doctor.id or 0, since=NOW + timedelta(days=1)) == []


def test_two_batches_of_one_session_at_once_lose_nothing(
    sessions: Callable[[], Session], session: Session, county: County
) -> None:
    """Parallel batches of the same session (a player and its offline queue replaying):
    on PostgreSQL the session row is locked, on SQLite the write lock orders them."""
    lecture_id = county.lecture.id
    doctor = county.doctors["village-a"]
    session.expunge(doctor)
    plan = [beat(seq, seq * 10, seq * 10 + 10, lecture_id=lecture_id) for seq in range(40)]
    batches = [plan[i::4] for i in range(4)]
    errors: list[BaseException] = []

    def send(batch: list[dict[str, Any]]) -> None:
        try:
            for item in batch:
                with sessions() as own:
                    AttendanceIngest(own).ingest(doctor, [item], now=NOW)
                    own.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    session.expire_all()
    stored = session.exec(select(ViewingSession)).one()
    assert stored.vod_intervals == [[0.0, 400.0]]
    assert intervals.length(stored.vod_intervals) == 400.0
    assert stored.last_seq == 39


def test_an_unknown_lecture_has_no_figures(session: Session, county: County) -> None:
    figures = AttendanceAccounting(session).lectures_figures([county.lecture.id or 0, 9999])
    assert list(figures) == [county.lecture.id]
    assert figures[county.lecture.id or 0].clinics == {}


def test_recent_timelines_expire_and_keep_a_bounded_number() -> None:
    timeline = LectureTimeline(1, 3600.0, None)
    recent = RecentTimelines(ttl_s=60, size=2)
    for key in ("a", "b", "c"):
        recent.put(key, timeline)
    assert [recent.get(key) for key in ("a", "b", "c")] == [None, timeline, timeline]
    expired = RecentTimelines(ttl_s=-1)
    expired.put("a", timeline)
    assert expired.get("a") is None


def test_a_doctor_who_moves_keeps_what_was_watched_with_the_old_clinic(
    session: Session, county: County
) -> None:
    lecture_id = county.lecture.id
    assert lecture_id is not None
    doctor, colleague = county.doctors["village-b"], county.doctors["village-a"]
    old_clinic, new_clinic = doctor.clinic_id, colleague.clinic_id
    assert old_clinic is not None
    assert new_clinic is not None
    ingest(session, doctor, [beat(0, 0, 600, lecture_id=lecture_id, session_id="before-move")])
    ingest(session, colleague, [beat(0, 0, 300, lecture_id=lecture_id, session_id="colleague")])
    doctor.clinic_id = new_clinic
    session.add(doctor)
    session.commit()
    later = NOW + timedelta(minutes=1)
    after = [beat(0, 600, 1200, lecture_id=lecture_id, session_id="after-move")]
    AttendanceIngest(session).ingest(doctor, after, now=later)
    figures = AttendanceAccounting(session).lecture_figures(lecture_id)
    assert figures.clinics[old_clinic].watched_s == 600.0
    assert figures.clinics[new_clinic].watched_s == 900.0  # 0–300 and 600–1200
    assert figures.clinics[new_clinic].viewers == 2
    moved = figures.users[doctor.id or 0]
    assert (moved.watched_s, moved.clinic_id) == (1200.0, new_clinic)
