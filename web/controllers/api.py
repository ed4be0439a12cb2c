"""The JSON API under /api/v1, for the player and for regional health platforms."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from pydantic import BaseModel

from training.lectures.services import LectureService
from web.auth import require_user
from web.state import Services


class LectureSummary(BaseModel):
    id: int
    title: str
    description: str
    language: str
    status: str
    scheduled_start: datetime | None
    duration_minutes: int
    mandatory: bool


class LecturesApi(Controller):
    path = "/api/v1/lectures"
    tags = ["lectures"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", sync_to_thread=True)
    def list_lectures(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> list[LectureSummary]:
        """The lectures the signed-in user may see."""
        user = require_user(request, services)
        with services.sessions() as session:
            lectures = LectureService(session).visible_to(user)
            return [
                LectureSummary.model_validate(lecture, from_attributes=True) for lecture in lectures
            ]

    @get("/{lecture_id:int}", sync_to_thread=True)
    def get_lecture(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        lecture_id: FromPath[int],
    ) -> LectureSummary:
        """One lecture; 403 for a user outside its audience."""
        user = require_user(request, services)
        with services.sessions() as session:
            lecture = LectureService(session).get_for(user, lecture_id)
            return LectureSummary.model_validate(lecture, from_attributes=True)
