"""Lecture pages: the library, scheduling a lecture, and one lecture with its upload widget and
pipeline progress (the browser side talks to ``lectures_api``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from sqlmodel import Session

from training.accounts.models import Role, User
from training.accounts.services import AccountService
from training.clinics.models import Clinic
from training.clinics.services import ClinicService
from training.errors import (
    ClinicastError,
    ClinicNotFound,
    PermissionDeniedError,
    ValidationError,
)
from training.lectures.models import Language, Lecture, LectureStatus
from training.lectures.services import LectureService
from training.media.services import PIPELINE, MediaService
from web.auth import current_user
from web.errors import status_for
from web.state import Services

SCHEDULERS = (Role.SPECIALIST, Role.ADMIN)
FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


# --- pages share these with the JSON API --------------------------------------------------


@dataclass
class LectureDraft:
    """A lecture as entered, checked and converted: times in UTC, audience as clinic ids with
    "and everything below" flags."""

    title: str
    audience: list[tuple[int, bool]]
    scheduled_start: datetime | None = None
    description: str = ""
    keywords: str = ""
    language: Language = Language.ZH
    duration_minutes: int = 60
    mandatory: bool = False
    attendance_share: float = 0.5


def require_scheduler(user: User) -> None:
    if user.role not in SCHEDULERS:
        raise PermissionDeniedError("only specialists and admins schedule lectures")


def schedule_lecture(session: Session, user: User, draft: LectureDraft) -> Lecture:
    """Schedule ``draft`` for ``user`` (flushes; the caller commits)."""
    require_scheduler(user)
    clinics = ClinicService(session)
    try:
        audience = [(clinics.get(clinic_id), subtree) for clinic_id, subtree in draft.audience]
    except ClinicNotFound as exc:  # a bad id in the request, not a missing page
        raise ValidationError(f"audience: {exc}") from exc
    lecture = LectureService(session).schedule(
        user,
        draft.title,
        audience=audience,
        scheduled_start=draft.scheduled_start,
        description=draft.description,
        keywords=draft.keywords,
        language=draft.language,
        duration_minutes=draft.duration_minutes,
        mandatory=draft.mandatory,
        attendance_share=draft.attendance_share,
    )
    return lecture


def to_utc(moment: datetime, timezone: str) -> datetime:
    """A naive datetime is wall-clock time in ``timezone``; an aware one keeps its offset."""
    if moment.tzinfo is None:
        try:
            moment = moment.replace(tzinfo=ZoneInfo(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            moment = moment.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return moment.astimezone(UTC)


@dataclass
class TreeNode:
    clinic: Clinic
    children: list[TreeNode] = field(default_factory=list)


def clinic_tree(session: Session) -> list[TreeNode]:
    """Every clinic as a forest, parents before children, for the audience picker and the
    admin summary."""
    clinics = ClinicService(session).all()
    nodes = {clinic.id: TreeNode(clinic) for clinic in clinics}
    roots: list[TreeNode] = []
    for node in nodes.values():
        parent = nodes.get(node.clinic.parent_id)
        (parent.children if parent else roots).append(node)
    return roots


# --- the creation form --------------------------------------------------------------------


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return str(value[-1] if isinstance(value, list) else value).strip()


def _ints(form: Mapping[str, Any], name: str) -> list[int]:
    raw = form.get(name, [])
    values = raw if isinstance(raw, list) else [raw]
    return [int(value) for value in values if str(value).isdigit()]


def parse_lecture_form(
    form: Mapping[str, Any], timezone: str
) -> tuple[LectureDraft | None, dict[str, str]]:
    """The draft, or the English message (a catalogue key) for each field that is wrong."""
    errors: dict[str, str] = {}
    title = _text(form, "title")
    if not title:
        errors["title"] = "Give the lecture a title."
    elif len(title) > 300:
        errors["title"] = "The title is too long (at most 300 characters)."
    start: datetime | None = None
    if _text(form, "scheduled_start"):
        try:
            start = to_utc(datetime.fromisoformat(_text(form, "scheduled_start")), timezone)
        except ValueError:
            errors["scheduled_start"] = "Enter the date and time as YYYY-MM-DD HH:MM."
    duration = _text(form, "duration_minutes") or "60"
    if not duration.isdigit() or not 1 <= int(duration) <= 24 * 60:
        errors["duration_minutes"] = "The duration is 1 to 1440 minutes."
    share = _text(form, "attendance_percent") or "50"
    if not share.isdigit() or not 1 <= int(share) <= 100:
        errors["attendance_percent"] = "The share that counts as attended is 1 to 100 %."
    audience = _ints(form, "audience")
    if not audience:
        errors["audience"] = "Choose at least one clinic for the audience."
    language = _text(form, "language") or Language.ZH.value
    if language not in {item.value for item in Language}:
        errors["language"] = "Choose Chinese or English."
    if errors:
        return None, errors
    return LectureDraft(
        title=title,
        audience=[(clinic_id, True) for clinic_id in audience],
        scheduled_start=start,
        description=_text(form, "description"),
        keywords=_text(form, "keywords"),
        language=Language(language),
        duration_minutes=int(duration),
        mandatory=_text(form, "mandatory") == "yes",
        attendance_share=int(share) / 100,
    ), {}


# --- error pages: the status comes from web.errors, only the rendering is HTML -------------


def page_user(request: Request[Any, Any, Any], services: Services) -> User:
    """The signed-in user, remembered on the request for the error page; else to sign-in."""
    user = current_user(request, services)
    if user is None:
        raise NotAuthorizedException("sign in first")
    request.state.user = user
    return user


def html_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, NotAuthorizedException):
        return Redirect("/login", status_code=303)
    status = status_for(exc) if isinstance(exc, ClinicastError) else 500
    return Template(
        "lectures/error.html",
        context={
            "user": getattr(request.state, "user", None),
            "status": status,
            "detail": str(exc),
        },
        status_code=status,
    )


PAGE_ERRORS = {ClinicastError: html_error, NotAuthorizedException: html_error}


class LecturePages(Controller):
    path = "/lectures"
    exception_handlers = PAGE_ERRORS  # type: ignore[assignment]  # handlers take subtypes

    @get("/", name="lectures", sync_to_thread=True)
    def library(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> Template:
        """The lectures the user may see: upcoming, live, and the on-demand library."""
        user = page_user(request, services)
        with services.sessions() as session:
            lectures = LectureService(session).visible_to(user, limit=500)
        groups: dict[str, list[Lecture]] = {"upcoming": [], "live": [], "library": []}
        for lecture in lectures:
            if lecture.status is LectureStatus.LIVE:
                groups["live"].append(lecture)
            elif lecture.status is LectureStatus.PUBLISHED:
                groups["library"].append(lecture)
            else:
                groups["upcoming"].append(lecture)
        groups["upcoming"].reverse()  # soonest first
        may_schedule = user.role in SCHEDULERS
        return Template(
            "lectures/library.html",
            context={"user": user, "groups": groups, "may_schedule": may_schedule},
        )

    @get("/new", name="new_lecture", sync_to_thread=True)
    def new_form(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> Template:
        user = page_user(request, services)
        require_scheduler(user)
        return self._form(services, user, {"duration_minutes": "60", "attendance_percent": "50"})

    @post("/new", sync_to_thread=True)
    def create(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services], data: FormData
    ) -> Template | Redirect:
        user = page_user(request, services)
        require_scheduler(user)
        draft, errors = parse_lecture_form(data, user.timezone)
        if draft is not None:
            with services.sessions() as session:
                try:
                    lecture = schedule_lecture(session, user, draft)
                    session.commit()
                    return Redirect(f"/lectures/{lecture.id}", status_code=303)
                except ValidationError as exc:
                    errors = {"form": str(exc)}
        return self._form(services, user, data, errors, status_code=400)

    def _form(
        self,
        services: Services,
        user: User,
        values: Mapping[str, Any],
        errors: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        with services.sessions() as session:
            tree = clinic_tree(session)
        return Template(
            "lectures/new.html",
            context={
                "user": user,
                "tree": tree,
                "values": {key: _text(values, key) for key in values},
                "chosen": set(_ints(values, "audience")),
                "errors": errors or {},
            },
            status_code=status_code,
        )

    @get("/{lecture_id:int}", name="lecture", sync_to_thread=True)
    def lecture(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        lecture_id: FromPath[int],
    ) -> Template:
        """Details for anyone in the audience; upload and pipeline for its specialist or an
        admin."""
        user = page_user(request, services)
        with services.sessions() as session:
            lectures = LectureService(session)
            lecture = lectures.get_for(user, lecture_id)
            editable = user.role is Role.ADMIN or user.id == lecture.specialist_id
            asset = MediaService(session, services.blobs).asset(lecture_id)
            clinics = ClinicService(session)
            audience = [
                (clinics.get(entry.clinic_id), entry.include_subtree)
                for entry in lectures.audience(lecture)
            ]
            specialist = AccountService(session).get(lecture.specialist_id)
        return Template(
            "lectures/lecture.html",
            context={
                "user": user,
                "lecture": lecture,
                "editable": editable,
                "is_admin": user.role is Role.ADMIN,
                "asset": asset,
                "audience": audience,
                "specialist": specialist,
                "step_labels": [label for _, label in PIPELINE],
            },
        )
