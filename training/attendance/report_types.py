"""What the attendance reports hold (``reports.py`` fills them; the API returns them as JSON,
the pages and the exports read them), the viewer's scope and the report period. Durations are
seconds, shares 0 to 1, moments UTC."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from training.attendance.services import ClinicFigures, WatchingNow
from training.clinics.models import Clinic
from training.errors import ValidationError
from training.lectures.models import Lecture

PERIOD_MAX_DAYS = 731
DEFAULT_PERIOD_DAYS = 180
FALLBACK_TIMEZONE = "Asia/Shanghai"


def zone(timezone: str) -> ZoneInfo:
    """The county's zone (an unknown name counts as the portal's home zone)."""
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(FALLBACK_TIMEZONE)


@dataclass(frozen=True)
class ReportScope:
    """Which clinics a viewer's reports show (``root_paths`` None: all of them) and whether
    they name the doctors who watched."""

    root_paths: tuple[str, ...] | None
    names_doctors: bool

    def covers(self, clinic: Clinic) -> bool:
        return self.root_paths is None or clinic.path.startswith(self.root_paths)


@dataclass(frozen=True)
class Period:
    """Whole days, first to last inclusive, in the county's time zone."""

    first_day: date
    last_day: date

    @classmethod
    def parse(cls, first: str | None, last: str | None, today: date) -> Period:
        """From ``YYYY-MM-DD`` texts (either may be missing: the last 180 days to today);
        ValidationError naming what is wrong."""
        try:
            last_day = date.fromisoformat(last) if last else today
            first_day = (
                date.fromisoformat(first)
                if first
                else last_day - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
            )
        except ValueError:
            raise ValidationError("dates are YYYY-MM-DD (for example 2026-09-01)") from None
        if first_day > last_day:
            raise ValidationError("the period's first day is after its last day")
        if (last_day - first_day).days >= PERIOD_MAX_DAYS:
            raise ValidationError(f"a period is at most {PERIOD_MAX_DAYS} days")
        return cls(first_day, last_day)

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """[start, end) in UTC: midnight of the first day to midnight after the last."""
        local = zone(timezone)
        start = datetime.combine(self.first_day, time(), local)
        end = datetime.combine(self.last_day + timedelta(days=1), time(), local)
        return start.astimezone(UTC), end.astimezone(UTC)

    @staticmethod
    def local_day(moment: datetime, timezone: str) -> date:
        return moment.astimezone(zone(timezone)).date()


@dataclass(frozen=True)
class DoctorLine:
    """A doctor who watched from a clinic (admins and coordinators only)."""

    user_id: int
    name: str
    watched_s: float
    live_s: float
    vod_s: float
    head_count: int


@dataclass(frozen=True)
class ClinicLine:
    """One clinic of a lecture's audience."""

    clinic_id: int
    name: str
    level: str
    region_code: str
    parent_name: str
    attended: bool
    watched_s: float
    live_s: float
    vod_s: float
    share: float
    head_count: int
    viewers: int
    stalls_per_hour: float
    stalled_share: float
    main_rendition: str
    doctors: tuple[DoctorLine, ...]  # empty where the viewer may not see names


@dataclass(frozen=True)
class LectureTotals:
    clinics: int
    attended: int
    absent: int
    attended_share: float  # attended / clinics
    head_count: int
    viewers: int
    watched_s: float  # summed over clinics
    live_s: float
    vod_s: float


def lecture_totals(lines: Sequence[ClinicLine]) -> LectureTotals:
    attended = sum(line.attended for line in lines)
    return LectureTotals(
        clinics=len(lines),
        attended=attended,
        absent=len(lines) - attended,
        attended_share=attended / len(lines) if lines else 0.0,
        head_count=sum(line.head_count for line in lines),
        viewers=sum(line.viewers for line in lines),
        watched_s=sum(line.watched_s for line in lines),
        live_s=sum(line.live_s for line in lines),
        vod_s=sum(line.vod_s for line in lines),
    )


@dataclass(frozen=True)
class LectureReport:
    lecture_id: int
    title: str
    status: str
    scheduled_start: datetime | None
    mandatory: bool
    attendance_share: float
    length_s: float
    names_doctors: bool
    clinics: tuple[ClinicLine, ...]  # absent first, then in tree order
    totals: LectureTotals


@dataclass(frozen=True)
class NowClinic:
    clinic_id: int
    name: str
    sessions: int
    viewers: int
    head_count: int
    renditions: tuple[str, ...]


@dataclass(frozen=True)
class NowReport:
    lecture_id: int
    live: bool
    as_of: datetime
    clinics: tuple[NowClinic, ...]
    sessions: int
    head_count: int


@dataclass(frozen=True)
class HistoryLine:
    lecture_id: int
    title: str
    scheduled_start: datetime
    mandatory: bool
    attended: bool
    watched_s: float
    live_s: float
    vod_s: float
    share: float
    head_count: int


@dataclass(frozen=True)
class ClinicHistory:
    clinic_id: int
    name: str
    level: str
    region_code: str
    lectures: tuple[HistoryLine, ...]  # newest first
    attended: int
    mandatory: int  # mandatory lectures
    mandatory_attended: int


def clinic_history(clinic: Clinic, lines: Sequence[HistoryLine]) -> ClinicHistory:
    required = [line for line in lines if line.mandatory]
    return ClinicHistory(
        clinic_id=clinic.id or 0,
        name=clinic.name,
        level=clinic.level.value,
        region_code=clinic.region_code,
        lectures=tuple(lines),
        attended=sum(line.attended for line in lines),
        mandatory=len(required),
        mandatory_attended=sum(line.attended for line in required),
    )


@dataclass(frozen=True)
class RecordLine:
    lecture_id: int
    title: str
    scheduled_start: datetime | None
    mandatory: bool
    watched_s: float
    live_s: float
    vod_s: float
    hours: float


@dataclass(frozen=True)
class TrainingRecord:
    user_id: int
    display_name: str
    clinic_name: str
    lectures: tuple[RecordLine, ...]
    hours: float


def clinic_line(
    clinic: Clinic, parent_name: str, figures: ClinicFigures | None, doctors: Sequence[DoctorLine]
) -> ClinicLine:
    """A clinic of a lecture's audience; no figures: nobody watched from it."""
    return ClinicLine(
        clinic_id=clinic.id or 0,
        name=clinic.name,
        level=clinic.level.value,
        region_code=clinic.region_code,
        parent_name=parent_name,
        attended=bool(figures and figures.attended),
        watched_s=figures.watched_s if figures else 0.0,
        live_s=figures.live_s if figures else 0.0,
        vod_s=figures.vod_s if figures else 0.0,
        share=figures.share if figures else 0.0,
        head_count=figures.head_count if figures else 0,
        viewers=figures.viewers if figures else 0,
        stalls_per_hour=figures.stalls_per_hour if figures else 0.0,
        stalled_share=figures.stalled_share if figures else 0.0,
        main_rendition=figures.main_rendition if figures else "",
        doctors=tuple(doctors),
    )


def history_line(lecture: Lecture, when: datetime, figures: ClinicFigures | None) -> HistoryLine:
    return HistoryLine(
        lecture_id=lecture.id or 0,
        title=lecture.title,
        scheduled_start=when,
        mandatory=lecture.mandatory,
        attended=bool(figures and figures.attended),
        watched_s=figures.watched_s if figures else 0.0,
        live_s=figures.live_s if figures else 0.0,
        vod_s=figures.vod_s if figures else 0.0,
        share=figures.share if figures else 0.0,
        head_count=figures.head_count if figures else 0,
    )


def now_clinics(
    sessions: Sequence[WatchingNow], clinics: Sequence[Clinic]
) -> tuple[NowClinic, ...]:
    """The sessions watching now, summed per clinic of ``clinics`` (in their order); sessions
    from other clinics are left out."""
    by_clinic: dict[int | None, list[WatchingNow]] = {}
    for found in sessions:
        by_clinic.setdefault(found.clinic_id, []).append(found)
    return tuple(
        NowClinic(
            clinic_id=clinic.id or 0,
            name=clinic.name,
            sessions=len(watching),
            viewers=len({s.user_id for s in watching}),
            head_count=sum(s.head_count for s in watching),
            renditions=tuple(sorted({s.rendition or "?" for s in watching})),
        )
        for clinic in clinics
        if (watching := by_clinic.get(clinic.id))
    )
