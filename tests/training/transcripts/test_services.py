"""Storing a lecture's transcript and correcting it, on SQLite and PostgreSQL; the search index
follows every change."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import Session, func, select

from training.accounts.models import Role, User
from training.accounts.services import AccountService
from training.clinics.models import Clinic, ClinicKind, ClinicLevel
from training.clinics.services import ClinicService
from training.errors import NotFoundError, PermissionDeniedError, ValidationError
from training.lectures.models import Lecture
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.media.models import MediaAsset, MediaState
from training.ports import SpeechSegment, Transcription
from training.search.models import SearchDocument, SearchSegment
from training.search.services import SearchService
from training.transcripts.models import Transcript, TranscriptSegment
from training.transcripts.services import TranscriptService

PASSWORD = "correct-horse-battery"
SPOKEN = Transcription(
    "zh",
    15.0,
    [
        SpeechSegment(0.0, 4.5, "大家好，今天讲高血压的基层管理。"),
        SpeechSegment(4.5, 9.0, "患者出现发热时先测体温。"),
        SpeechSegment(9.0, 15.0, "常用的降压药有五类。"),
    ],
)


@dataclass
class Setting:
    session: Session
    lecture: Lecture
    specialist: User
    other_specialist: User
    admin: User
    doctor: User

    @property
    def transcripts(self) -> TranscriptService:
        return TranscriptService(self.session, SearchService(self.session))

    def found(self, query: str) -> bool:
        results = SearchService(self.session).search(self.admin, query)
        return [found.lecture_id for found in results.lectures] == [self.lecture.id]


@pytest.fixture
def setting(session: Session) -> Setting:
    clinic = ClinicService(session).add(
        Clinic(name="城关镇卫生院", level=ClinicLevel.TOWNSHIP, kind=ClinicKind.TOWNSHIP_CENTRE,
               region_code="139901001000")
    )  # fmt: skip
    accounts = AccountService(session)
    specialist = accounts.create("dr.wang", PASSWORD, Role.SPECIALIST)
    setting = Setting(
        session=session,
        lecture=LectureService(session, SearchService(session)).schedule(
            specialist, LectureDraft("高血压的基层管理", audience=[(clinic.id or 0, True)])
        ),
        specialist=specialist,
        other_specialist=accounts.create("dr.chen", PASSWORD, Role.SPECIALIST),
        admin=accounts.create("admin", PASSWORD, Role.ADMIN),
        doctor=accounts.create("dr.li", PASSWORD, Role.DOCTOR, clinic=clinic),
    )
    session.commit()
    return setting


def count(
    session: Session, model: type[Transcript | TranscriptSegment | SearchDocument | SearchSegment]
) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_stored_transcript_keeps_the_segments_in_order_with_their_times(setting: Setting) -> None:
    transcript = setting.transcripts.store(setting.lecture, SPOKEN, model="whisper-small int8")
    setting.session.commit()
    assert (transcript.language, transcript.duration, transcript.model) == (
        "zh", 15.0, "whisper-small int8",
    )  # fmt: skip
    segments = setting.transcripts.segments(setting.lecture.id or 0)
    assert [(s.position, s.start, s.end, s.text) for s in segments] == [
        (i, s.start, s.end, s.text) for i, s in enumerate(SPOKEN.segments)
    ]
    assert not any(s.edited for s in segments)


def test_storing_the_same_transcription_twice_leaves_the_same_rows(setting: Setting) -> None:
    setting.transcripts.store(setting.lecture, SPOKEN)
    setting.session.commit()
    setting.transcripts.store(setting.lecture, SPOKEN)
    setting.session.commit()
    assert count(setting.session, Transcript) == 1
    assert count(setting.session, TranscriptSegment) == 3
    assert count(setting.session, SearchSegment) == 3
    assert count(setting.session, SearchDocument) == 2  # the title and the whole transcript
    assert setting.found("发热")


def test_a_new_transcription_replaces_the_old_one_in_the_index_too(setting: Setting) -> None:
    setting.transcripts.store(setting.lecture, SPOKEN)
    setting.session.commit()
    redone = Transcription("zh", 5.0, [SpeechSegment(0.0, 5.0, "今天讲糖尿病。")])
    setting.transcripts.store(setting.lecture, redone, model="whisper-medium")
    setting.session.commit()
    assert [s.text for s in setting.transcripts.segments(setting.lecture.id or 0)] == [
        "今天讲糖尿病。"
    ]
    assert setting.found("糖尿病")
    assert not setting.found("发热")


def test_a_corrected_segment_is_found_by_its_new_text_and_not_its_old_text(
    setting: Setting,
) -> None:
    setting.transcripts.store(setting.lecture, SPOKEN)
    setting.session.commit()
    fever = setting.transcripts.segments(setting.lecture.id or 0)[1]
    corrected = setting.transcripts.correct_segment(
        setting.specialist, fever.id or 0, "患者出现咳嗽时先听诊。"
    )
    setting.session.commit()
    assert corrected.edited
    assert corrected.text == "患者出现咳嗽时先听诊。"
    assert setting.found("咳嗽")
    assert not setting.found("发热")
    # Transcribed, so its ladder is in place: the doctor may watch it, and find it.
    lecture_id = setting.lecture.id or 0
    prefix = f"lectures/{lecture_id}/attempts/g1-1-test/"
    setting.session.add(MediaAsset(lecture_id=lecture_id, state=MediaState.READY,
                                   hls_prefix=prefix, master="master.m3u8"))  # fmt: skip
    setting.session.commit()
    [found] = SearchService(setting.session).search(setting.doctor, "咳嗽").lectures
    assert found.moments == [4.5]


def test_an_admin_may_correct_any_transcript(setting: Setting) -> None:
    setting.transcripts.store(setting.lecture, SPOKEN)
    segment = setting.transcripts.segments(setting.lecture.id or 0)[0]
    setting.transcripts.correct_segment(
        setting.admin, segment.id or 0, "Hypertension in primary care."
    )
    assert setting.found("hypertension")


@pytest.mark.parametrize("who", ["doctor", "other_specialist"])
def test_only_the_lectures_specialist_or_an_admin_may_correct(setting: Setting, who: str) -> None:
    setting.transcripts.store(setting.lecture, SPOKEN)
    segment = setting.transcripts.segments(setting.lecture.id or 0)[0]
    with pytest.raises(PermissionDeniedError):
        setting.transcripts.correct_segment(getattr(setting, who), segment.id or 0, "篡改")
    assert setting.transcripts.segments(setting.lecture.id or 0)[0].text == segment.text


def test_correcting_a_missing_segment_says_it_is_not_found(setting: Setting) -> None:
    with pytest.raises(NotFoundError):
        setting.transcripts.correct_segment(setting.specialist, 999_999, "文字")


@pytest.mark.parametrize("text", ["", "   ", "字" * 2_001])
def test_a_correction_must_hold_some_text_and_not_too_much(setting: Setting, text: str) -> None:
    setting.transcripts.store(setting.lecture, SPOKEN)
    segment = setting.transcripts.segments(setting.lecture.id or 0)[0]
    with pytest.raises(ValidationError):
        setting.transcripts.correct_segment(setting.specialist, segment.id or 0, text)


def test_a_correction_survives_a_rerun_of_the_same_transcription(setting: Setting) -> None:
    setting.transcripts.store(setting.lecture, SPOKEN)
    segment = setting.transcripts.segments(setting.lecture.id or 0)[2]
    setting.transcripts.correct_segment(setting.specialist, segment.id or 0, "常用的降糖药有五类。")
    setting.session.commit()
    setting.transcripts.store(setting.lecture, SPOKEN)  # the job ran again
    setting.session.commit()
    kept = setting.transcripts.segments(setting.lecture.id or 0)[2]
    assert (kept.text, kept.edited) == ("常用的降糖药有五类。", True)
    assert setting.found("降糖药")


def test_a_correction_gives_way_to_a_new_transcription_with_other_timings(setting: Setting) -> None:
    setting.transcripts.store(setting.lecture, SPOKEN)
    segment = setting.transcripts.segments(setting.lecture.id or 0)[0]
    setting.transcripts.correct_segment(setting.specialist, segment.id or 0, "更正过的文字。")
    retimed = Transcription("zh", 15.0, [SpeechSegment(0.0, 6.0, "重新识别的文字。")])
    setting.transcripts.store(setting.lecture, retimed)
    [only] = setting.transcripts.segments(setting.lecture.id or 0)
    assert (only.text, only.edited) == ("重新识别的文字。", False)


def test_the_stored_transcription_carries_the_corrections_for_captions(setting: Setting) -> None:
    setting.transcripts.store(setting.lecture, SPOKEN)
    segment = setting.transcripts.segments(setting.lecture.id or 0)[1]
    setting.transcripts.correct_segment(setting.specialist, segment.id or 0, "更正。")
    stored = setting.transcripts.transcription(setting.lecture.id or 0)
    assert stored is not None
    assert stored.language == "zh"
    assert [s.text for s in stored.segments] == [
        SPOKEN.segments[0].text,
        "更正。",
        SPOKEN.segments[2].text,
    ]


def test_a_lecture_without_a_transcript_has_no_segments(setting: Setting) -> None:
    assert setting.transcripts.get(setting.lecture.id or 0) is None
    assert setting.transcripts.segments(setting.lecture.id or 0) == []
    assert setting.transcripts.transcription(setting.lecture.id or 0) is None


def test_a_changed_lecture_title_is_searchable_after_reindexing(setting: Setting) -> None:
    setting.transcripts.store(setting.lecture, SPOKEN)
    setting.lecture.keywords = "慢病随访"
    setting.session.add(setting.lecture)
    setting.transcripts.reindex_lecture(setting.lecture.id or 0)
    setting.session.commit()
    assert setting.found("随访")
