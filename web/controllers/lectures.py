"""Lecture pages: the library, scheduling a lecture, and one lecture with its upload widget and
pipeline progress (the browser side talks to ``uploads`` and ``pipeline``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from training.accounts.models import Role, User
from training.accounts.services import AccountService
from training.clinics.services import ClinicService
from training.lectures.models import Lecture, LectureStatus
from training.lectures.rules import InvalidLecture, may_manage, may_watch, require_scheduler
from training.lectures.services import LectureService
from training.media.pipeline import STEPS
from training.media.services import MediaService
from training.search.services import SearchService
from web.deps import AppServices, DbSession, SignedInUser
from web.errors import PAGE_ERRORS
from web.forms import FormData, form_ints, form_problems, form_text, parse_lecture_form

NEW_FORM_DEFAULTS = {"duration_minutes": "60", "attendance_percent": "50"}


def library_groups(lectures: list[Lecture]) -> dict[str, list[Lecture]]:
    """Live now, upcoming (soonest first) and the on-demand library."""
    groups: dict[str, list[Lecture]] = {"upcoming": [], "live": [], "library": []}
    for lecture in lectures:
        if lecture.status is LectureStatus.LIVE:
            groups["live"].append(lecture)
        elif lecture.status in (LectureStatus.PUBLISHED, LectureStatus.ENDED):
            groups["library"].append(lecture)
        else:
            groups["upcoming"].append(lecture)
    groups["upcoming"].reverse()  # visible_to lists the latest start first
    return groups


class LecturePages(Controller):
    path = "/lectures"
    exception_handlers = PAGE_ERRORS

    @get("/", name="lectures", sync_to_thread=True)
    def library(self, session: DbSession, user: SignedInUser) -> Template:
        """The lectures the user may see: upcoming, live, and the on-demand library."""
        lectures = LectureService(session).visible_to(user, limit=500)
        return Template(
            "lectures/library.html",
            context={"user": user, "groups": library_groups(lectures)},
        )

    @get("/new", name="new_lecture", sync_to_thread=True)
    def new_form(self, session: DbSession, user: SignedInUser) -> Template:
        require_scheduler(user)
        return self._form(session, user, NEW_FORM_DEFAULTS)

    @post("/new", sync_to_thread=True)
    def create(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        user: SignedInUser,
        data: FormData,
    ) -> Template | Redirect:
        """Schedule the lecture and open its page; or the form again, as typed, with what to
        fix next to each field."""
        require_scheduler(user)
        draft, unreadable = parse_lecture_form(data)
        if not unreadable:
            try:
                lecture = LectureService(session, SearchService(session)).schedule(user, draft)
            except InvalidLecture as exc:
                return self._form(session, user, data, form_problems(exc.problems), 400)
            session.commit()
            url = request.app.route_reverse("lecture", lecture_id=lecture.id)
            return Redirect(url, status_code=303)
        errors = {**form_problems(draft.problems()), **unreadable}
        return self._form(session, user, data, errors, 400)

    def _form(
        self,
        session: DbSession,
        user: User,
        values: Mapping[str, Any],
        errors: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        return Template(
            "lectures/new.html",
            context={
                "user": user,
                "tree": ClinicService(session).tree(),
                "values": {key: form_text(values, key) for key in values},
                "chosen": set(form_ints(values, "audience")),
                "errors": errors or {},
            },
            status_code=status_code,
        )

    @get("/{lecture_id:int}", name="lecture", sync_to_thread=True)
    def lecture(
        self,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
    ) -> Template:
        """Details for anyone in the audience; upload and pipeline for those who manage it."""
        lectures = LectureService(session)
        lecture = lectures.get_for(user, lecture_id)
        clinics = ClinicService(session)
        audience = [
            (clinics.get(entry.clinic_id), entry.include_subtree)
            for entry in lectures.audience(lecture)
        ]
        return Template(
            "lectures/lecture.html",
            context={
                "user": user,
                "lecture": lecture,
                "editable": may_manage(user, lecture),
                "watchable": may_watch(user, lecture, lectures.recording_ready(lecture_id)),
                "is_admin": user.role is Role.ADMIN,
                # Not "asset": that name is the template global of static file URLs.
                "recording": MediaService(session, services.blobs).asset(lecture_id),
                "audience": audience,
                "specialist": AccountService(session).get(lecture.specialist_id),
                "step_labels": [step.label for step in STEPS],
            },
        )
