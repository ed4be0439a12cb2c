"""The JSON API for scheduling lectures, uploading their recordings in resumable parts and
following the pipeline (``/api/v1``). Session cookie and the ``x-csrftoken`` header for unsafe
methods, as for the pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, RawBody
from pydantic import BaseModel, Field
from sqlmodel import Session

from training.accounts.models import Role, User
from training.errors import NotFoundError, PermissionDeniedError
from training.lectures.models import Language, LectureStatus
from training.lectures.services import LectureService
from training.media.models import MediaAsset, MediaState
from training.media.services import (
    MIB,
    PART_SIZE,
    PIPELINE,
    MediaService,
    StepStatus,
    UploadState,
)
from training.pipeline.registry import FailureCause
from web.auth import require_user
from web.controllers.api import LectureSummary
from web.controllers.lectures import LectureDraft, require_scheduler, schedule_lecture, to_utc
from web.i18n import translate
from web.state import Services

STEP_LABELS = dict(PIPELINE)

PART_BODY_LIMIT = PART_SIZE + 64 * 1024
"""The largest body a part request may have: Litestar refuses a larger Content-Length with 413
before reading, and stops reading a body that grows past it."""


class AudienceEntry(BaseModel):
    clinic_id: int
    include_subtree: bool = True


class LectureCreate(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    audience: list[AudienceEntry] = Field(min_length=1)
    scheduled_start: datetime | None = Field(
        None, description="with an offset; without one, in the user's time zone"
    )
    description: str = Field("", max_length=10_000)
    keywords: str = Field("", max_length=1_000)
    language: Language = Language.ZH
    duration_minutes: int = Field(60, ge=1, le=24 * 60)
    mandatory: bool = False
    attendance_share: float = Field(0.5, gt=0.0, le=1.0)


class UploadBegin(BaseModel):
    filename: str = Field(min_length=1, max_length=300)
    size: int = Field(description="bytes")
    content_type: str = Field("", max_length=100)


class UploadStateOut(BaseModel):
    upload_id: str
    filename: str
    size: int
    part_size: int
    part_count: int
    parts: dict[int, int] = Field(description="part number → bytes received")
    received: int

    @classmethod
    def of(cls, state: UploadState) -> UploadStateOut:
        return cls(
            upload_id=state.upload_id,
            filename=state.filename,
            size=state.size,
            part_size=state.part_size,
            part_count=state.part_count,
            parts=state.parts,
            received=state.received,
        )


class PartReceived(BaseModel):
    part_number: int
    size: int


class PipelineStep(BaseModel):
    kind: str
    label: str
    status: str = Field(description="pending, queued, running, succeeded, failed or cancelled")
    progress: float
    message: str
    error: str | None

    @classmethod
    def of(cls, step: StepStatus) -> PipelineStep:
        return cls(
            kind=step.kind,
            label=step.label,
            status=step.status,
            progress=step.progress,
            message=step.message,
            error=step.error,
        )


class PipelineFailure(BaseModel):
    """Why the pipeline stopped, in the user's language, and what to do about it."""

    step: str = Field(description="the job kind of the step that failed, e.g. media.probe")
    cause: FailureCause = Field(
        description="input: the recording cannot be used (the uploader's to fix); settings: "
        "the platform's settings or storage refused the work (an administrator's to fix); "
        "exhausted: the step failed after its retries (an administrator can restart it)"
    )
    message: str
    action: str
    reason: str | None = Field(description="the technical reason, as recorded")


FAILURE_TEXTS: dict[FailureCause, tuple[str, str]] = {
    FailureCause.INPUT: (
        "The recording cannot be used.",
        "Check the file (a video or audio recording that plays to the end) and upload it again.",
    ),
    FailureCause.SETTINGS: (
        "Processing stopped at “{step}”: the platform's settings or storage refused the work.",
        "This is not a problem with your recording. Ask an administrator to check the settings "
        "and restart the step.",
    ),
    FailureCause.EXHAUSTED: (
        "Processing failed at “{step}” after several attempts.",
        "Your recording is kept. An administrator can restart the step.",
    ),
}


def describe_failure(asset: MediaAsset | None, locale: str) -> PipelineFailure | None:
    if asset is None or asset.state is not MediaState.FAILED or asset.failed_step is None:
        return None
    cause = FailureCause(asset.failure_cause or FailureCause.EXHAUSTED)
    message, action = FAILURE_TEXTS[cause]
    step = translate(STEP_LABELS.get(asset.failed_step, asset.failed_step), locale)
    return PipelineFailure(
        step=asset.failed_step,
        cause=cause,
        message=translate(message, locale).format(step=step),
        action=translate(action, locale),
        reason=asset.error,
    )


class PipelineOut(BaseModel):
    lecture_id: int
    lecture_status: LectureStatus
    media_state: MediaState | None
    error: str | None
    failure: PipelineFailure | None = Field(
        None, description="set when the pipeline failed for good: why, and what to do"
    )
    steps: list[PipelineStep]
    watch_url: str | None = Field(description="the player, once the lecture is published")


def _editable(services: Services, user: User, lecture_id: int) -> None:
    """The lecture exists (404) and ``user`` is its specialist or an admin (403)."""
    with services.sessions() as session:
        lecture = LectureService(session).get(lecture_id)
        if user.role is not Role.ADMIN and user.id != lecture.specialist_id:
            raise PermissionDeniedError("only the lecture's specialist or an admin manages it")


# A function, not a method of LectureMediaApi: two controllers on one path make Litestar 2.25
# register OPTIONS twice, and GET /api/v1/lectures lives in web/controllers/api.py.
@post("/api/v1/lectures", sync_to_thread=True, tags=["lectures"])
def create_lecture(
    request: Request[Any, Any, Any],
    services: NamedDependency[Services],
    data: JSONBody[LectureCreate],
) -> LectureSummary:
    """Schedule a lecture (specialists and admins)."""
    user = require_user(request, services)
    require_scheduler(user)
    draft = LectureDraft(
        **data.model_dump(exclude={"audience", "scheduled_start"}),
        audience=[(entry.clinic_id, entry.include_subtree) for entry in data.audience],
        scheduled_start=to_utc(data.scheduled_start, user.timezone)
        if data.scheduled_start
        else None,
    )
    with services.sessions() as session:
        lecture = schedule_lecture(session, user, draft)
        session.commit()
        return LectureSummary.model_validate(lecture, from_attributes=True)


class LectureMediaApi(Controller):
    path = "/api/v1/lectures"
    tags = ["lectures"]  # noqa: RUF012 - Litestar reads it as a class attribute

    def _media(self, services: Services, session: Session) -> MediaService:
        return MediaService(
            session, services.blobs, max_upload_bytes=services.settings.web.max_upload_mb * MIB
        )

    @get("/{lecture_id:int}/pipeline", sync_to_thread=True)
    def pipeline(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        lecture_id: FromPath[int],
    ) -> PipelineOut:
        """The steps of the current recording's pipeline (the lecture's specialist, admins)."""
        user = require_user(request, services)
        _editable(services, user, lecture_id)
        return self._pipeline(services, lecture_id, request)

    def _pipeline(
        self, services: Services, lecture_id: int, request: Request[Any, Any, Any]
    ) -> PipelineOut:
        with services.sessions() as session:
            lecture = LectureService(session).get(lecture_id)
            media = self._media(services, session)
            asset = media.asset(lecture_id)
            published = lecture.status is LectureStatus.PUBLISHED
            return PipelineOut(
                lecture_id=lecture_id,
                lecture_status=lecture.status,
                media_state=asset.state if asset else None,
                error=asset.error if asset else None,
                failure=describe_failure(asset, str(getattr(request.state, "locale", "zh-CN"))),
                steps=[PipelineStep.of(step) for step in media.pipeline(lecture_id)],
                watch_url=f"/lectures/{lecture_id}/watch" if published else None,
            )

    @post("/{lecture_id:int}/upload", status_code=200, sync_to_thread=True)
    def begin_upload(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        lecture_id: FromPath[int],
        data: JSONBody[UploadBegin],
    ) -> UploadStateOut:
        """Start an upload, or resume the one in progress for the same file name and size:
        ``parts`` says which parts already arrived."""
        user = require_user(request, services)
        with services.sessions() as session:
            state = self._media(services, session).begin_upload(
                user, lecture_id, filename=data.filename, size=data.size,
                content_type=data.content_type,
            )  # fmt: skip
            session.commit()
        return UploadStateOut.of(state)

    @get("/{lecture_id:int}/upload", sync_to_thread=True)
    def upload_state(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        lecture_id: FromPath[int],
    ) -> UploadStateOut:
        """The upload in progress (404 when there is none)."""
        user = require_user(request, services)
        with services.sessions() as session:
            state = self._media(services, session).upload_state(user, lecture_id)
        if state is None:
            raise NotFoundError(f"no upload in progress for lecture {lecture_id}")
        return UploadStateOut.of(state)

    @put(
        "/{lecture_id:int}/upload/{upload_id:str}/parts/{part_number:int}",
        sync_to_thread=True,
        request_max_body_size=PART_BODY_LIMIT,
    )
    def upload_part(
        self,
        *,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        lecture_id: FromPath[int],
        upload_id: FromPath[str],
        part_number: FromPath[int],
        body: RawBody,
    ) -> PartReceived:
        """One part, the raw bytes as the body; sending a part again replaces it."""
        user = require_user(request, services)
        with services.sessions() as session:
            self._media(services, session).upload_part(
                user, lecture_id, upload_id, part_number, body
            )
        return PartReceived(part_number=part_number, size=len(body))

    @post("/{lecture_id:int}/upload/{upload_id:str}/complete", status_code=200, sync_to_thread=True)
    def complete_upload(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        lecture_id: FromPath[int],
        upload_id: FromPath[str],
    ) -> PipelineOut:
        """Assemble the parts (400 while any is missing) and queue the pipeline."""
        user = require_user(request, services)
        with services.sessions() as session:
            self._media(services, session).complete_upload(user, lecture_id, upload_id)
            session.commit()  # the after-commit hook announces the queued probe
        return self._pipeline(services, lecture_id, request)

    @post("/{lecture_id:int}/pipeline/restart", status_code=200, sync_to_thread=True)
    def restart_pipeline(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        lecture_id: FromPath[int],
    ) -> PipelineOut:
        """Queue the failed step again (admins)."""
        user = require_user(request, services)
        with services.sessions() as session:
            LectureService(session).get(lecture_id)
            self._media(services, session).restart_failed(user, lecture_id)
            session.commit()
        return self._pipeline(services, lecture_id, request)
