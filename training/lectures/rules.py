"""Who may do what with a lecture, and what a valid lecture is.

The pages, the JSON API and the services all ask these; each rule is written here once, so a
form, an API call and a script cannot disagree about who may upload a recording or how long a
title may be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from training.accounts.models import Role, User
from training.errors import NotFoundError, PermissionDeniedError, ValidationError
from training.lectures.models import Language, Lecture, LectureStatus

SCHEDULERS = frozenset({Role.SPECIALIST, Role.ADMIN})
TITLE_MAX = 300
DESCRIPTION_MAX = 10_000
KEYWORDS_MAX = 1_000
DURATION_MAX = 24 * 60
YEARS = range(2000, 9999)  # a start outside them is a typo, and year 1 or 9999 overflow in UTC
ATTENDANCE_SHARE_MIN = 0.01
FALLBACK_TIMEZONE = "Asia/Shanghai"


def may_schedule(user: User) -> bool:
    """Specialists give lectures; admins schedule them on anyone's behalf."""
    return user.role in SCHEDULERS


def require_scheduler(user: User) -> None:
    if not may_schedule(user):
        raise PermissionDeniedError("only specialists and admins schedule lectures")


def may_manage(user: User, lecture: Lecture) -> bool:
    """The lecture's own specialist or an admin: who uploads its recording, follows and
    restarts its processing, and corrects its transcript."""
    return user.role is Role.ADMIN or (user.id is not None and user.id == lecture.specialist_id)


def require_manager(user: User, lecture: Lecture) -> None:
    if not may_manage(user, lecture):
        raise PermissionDeniedError("only the lecture's specialist or an admin manages it")


BROADCAST = frozenset({LectureStatus.LIVE, LectureStatus.ENDED})
"""A lecture that is live, or was and has ended, plays from its live ladder: no recording to
wait for."""


class NotWatchable(NotFoundError):
    """The user may see the lecture but not watch it (yet): it was cancelled, or its recording
    is not ready. A 404 for its media, transcript and captions: there is nothing to serve."""


def may_watch(user: User, lecture: Lecture, media_ready: bool) -> bool:
    """The audience may watch this lecture (its media, transcript, captions and search hits):
    while it is live, after a live lecture ends, and once a recording's ladder is in place
    (``media_ready``: the media is READY with a switched-in ladder, transcript or not); never a
    cancelled lecture or one without media. Its specialist and admins always may. Whether
    ``user`` is in the audience at all is ``LectureService``'s to say, before this."""
    if may_manage(user, lecture):
        return True
    if lecture.status is LectureStatus.CANCELLED:
        return False
    return lecture.status in BROADCAST or media_ready


def require_watchable(user: User, lecture: Lecture, media_ready: bool) -> None:
    if may_watch(user, lecture, media_ready):
        return
    if lecture.status is LectureStatus.CANCELLED:
        raise NotWatchable(f"lecture {lecture.id} was cancelled")
    raise NotWatchable(f"lecture {lecture.id} has no playable recording yet")


class InvalidLecture(ValidationError):
    """A draft that breaks the rules: ``problems`` maps each wrong field to what is wrong, in
    English (the portal translates the messages; the API shows them as they are)."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems.items()))


@dataclass(frozen=True)
class LectureDraft:
    """A lecture as a specialist enters it, through the form or the API. ``audience`` holds
    clinic ids, each with whether everything below the clinic is included; a
    ``scheduled_start`` without an offset is wall-clock time in the specialist's time zone."""

    title: str
    audience: Sequence[tuple[int, bool]]
    scheduled_start: datetime | None = None
    description: str = ""
    keywords: str = ""
    language: Language = Language.ZH
    duration_minutes: int = 60
    mandatory: bool = False
    attendance_share: float = 0.5

    def problems(self) -> dict[str, str]:
        """What is wrong with the draft, field by field (empty when nothing is)."""
        checks = {
            "title": (bool(self.title.strip()), "Give the lecture a title."),
            "description": (
                len(self.description) <= DESCRIPTION_MAX,
                f"The description is too long (at most {DESCRIPTION_MAX} characters).",
            ),
            "keywords": (
                len(self.keywords) <= KEYWORDS_MAX,
                f"The keywords are too long (at most {KEYWORDS_MAX} characters).",
            ),
            "duration_minutes": (
                1 <= self.duration_minutes <= DURATION_MAX,
                f"The duration is 1 to {DURATION_MAX} minutes.",
            ),
            "attendance_share": (
                ATTENDANCE_SHARE_MIN <= self.attendance_share <= 1.0,
                "The share that counts as attended is 1 to 100 %.",
            ),
            "audience": (bool(self.audience), "Choose at least one clinic for the audience."),
        }
        for name in ("title", "description", "keywords"):
            if "\x00" in getattr(self, name):  # PostgreSQL stores no NUL in text
                checks[name] = (False, "Remove the NUL characters from the text.")
        if self.scheduled_start is not None and self.scheduled_start.year not in YEARS:
            checks["scheduled_start"] = (False, "Enter a date between the years 2000 and 9998.")
        found = {field: message for field, (ok, message) in checks.items() if not ok}
        if len(self.title.strip()) > TITLE_MAX:
            found["title"] = f"The title is too long (at most {TITLE_MAX} characters)."
        return found

    def checked(self) -> LectureDraft:
        """The draft with its title trimmed; InvalidLecture naming every wrong field."""
        problems = self.problems()
        if problems:
            raise InvalidLecture(problems)
        return replace(self, title=self.title.strip())


def in_utc(moment: datetime, timezone: str) -> datetime:
    """``moment`` in UTC: a naive datetime is wall-clock time in ``timezone`` (an unknown zone
    counts as the portal's home zone), an aware one keeps its offset."""
    if moment.tzinfo is None:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo(FALLBACK_TIMEZONE)
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)
