"""The lectures of the JSON API (``/api/v1/lectures``): those the signed-in user may see, one
of them, and scheduling a new one. Session cookie and the ``x-csrftoken`` header for unsafe
methods, as for the pages."""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, Field

from training.lectures.models import Language, Lecture
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.search.services import SearchService
from web.deps import DbSession, SignedInUser


class LectureSummary(BaseModel):
    id: int
    title: str
    description: str
    language: str
    status: str
    scheduled_start: datetime | None
    duration_minutes: int
    mandatory: bool

    @classmethod
    def of(cls, lecture: Lecture) -> LectureSummary:
        return cls.model_validate(lecture, from_attributes=True)


class AudienceEntry(BaseModel):
    clinic_id: int
    include_subtree: bool = Field(True, description="and every clinic below it")


class LectureCreate(BaseModel):
    """A lecture to schedule. The rules (lengths, ranges, a non-empty audience) are the
    domain's: a request that breaks one is refused with 400 naming each field."""

    title: str
    audience: list[AudienceEntry]
    scheduled_start: datetime | None = Field(
        None, description="with an offset; without one, in the user's time zone"
    )
    description: str = ""
    keywords: str = ""
    language: Language = Language.ZH
    duration_minutes: int = Field(60, description="1 to 1440")
    mandatory: bool = False
    attendance_share: float = Field(0.5, description="0.01 to 1: the share that counts as attended")

    def draft(self) -> LectureDraft:
        return LectureDraft(
            **self.model_dump(exclude={"audience"}),
            audience=[(entry.clinic_id, entry.include_subtree) for entry in self.audience],
        )


class LecturesApi(Controller):
    path = "/api/v1/lectures"
    tags = ["lectures"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", sync_to_thread=True)
    def list_lectures(self, session: DbSession, user: SignedInUser) -> list[LectureSummary]:
        """The lectures the signed-in user may see."""
        return [LectureSummary.of(lecture) for lecture in LectureService(session).visible_to(user)]

    @post("/", sync_to_thread=True)
    def create_lecture(
        self, session: DbSession, user: SignedInUser, data: JSONBody[LectureCreate]
    ) -> LectureSummary:
        """Schedule a lecture (specialists and admins)."""
        lecture = LectureService(session, SearchService(session)).schedule(user, data.draft())
        session.commit()
        return LectureSummary.of(lecture)

    @get("/{lecture_id:int}", sync_to_thread=True)
    def get_lecture(
        self, session: DbSession, user: SignedInUser, lecture_id: FromPath[int]
    ) -> LectureSummary:
        """One lecture; 403 for a user outside its audience."""
        return LectureSummary.of(LectureService(session).get_for(user, lecture_id))
