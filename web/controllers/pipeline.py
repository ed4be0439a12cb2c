"""Following a recording's processing (``/api/v1/lectures/{id}/pipeline``): each step's state,
and why it stopped in the user's language, for those who manage the lecture; restarting a
failed step (admins)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from pydantic import BaseModel, Field

from training.jobs.registry import FailureCause
from training.lectures.models import LectureStatus
from training.lectures.rules import require_manager
from training.lectures.services import LectureService
from training.media.models import MediaAsset, MediaState
from training.media.pipeline import LABELS
from training.media.services import MediaService
from web.deps import AppServices, DbSession, SignedInUser
from web.i18n import translate
from web.state import Services


class PipelineStep(BaseModel):
    kind: str
    label: str
    status: str = Field(description="pending, queued, running, succeeded, failed or cancelled")
    progress: float
    message: str
    error: str | None


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
    step = translate(LABELS.get(asset.failed_step, asset.failed_step), locale)
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


def pipeline_out(
    request: Request[Any, Any, Any], services: Services, session: DbSession, lecture_id: int
) -> PipelineOut:
    """The pipeline of the lecture's current recording, as the uploader's page shows it."""
    lecture = LectureService(session).get(lecture_id)
    media = MediaService(session, services.blobs)
    asset = media.asset(lecture_id)
    published = lecture.status is LectureStatus.PUBLISHED
    return PipelineOut(
        lecture_id=lecture_id,
        lecture_status=lecture.status,
        media_state=asset.state if asset else None,
        error=asset.error if asset else None,
        failure=describe_failure(asset, str(getattr(request.state, "locale", "zh-CN"))),
        steps=[
            PipelineStep.model_validate(step, from_attributes=True)
            for step in media.pipeline(lecture_id)
        ],
        watch_url=request.app.route_reverse("watch", lecture_id=lecture_id) if published else None,
    )


class PipelineApi(Controller):
    path = "/api/v1/lectures/{lecture_id:int}/pipeline"
    tags = ["lectures"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", sync_to_thread=True)
    def pipeline(
        self,
        request: Request[Any, Any, Any],
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
    ) -> PipelineOut:
        """The steps of the current recording's pipeline (the lecture's specialist, admins)."""
        require_manager(user, LectureService(session).get(lecture_id))
        return pipeline_out(request, services, session, lecture_id)

    @post("/restart", status_code=200, sync_to_thread=True)
    def restart_pipeline(
        self,
        request: Request[Any, Any, Any],
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
    ) -> PipelineOut:
        """Queue the failed step again (admins)."""
        LectureService(session).get(lecture_id)
        MediaService(session, services.blobs).restart_failed(user, lecture_id)
        session.commit()
        return pipeline_out(request, services, session, lecture_id)
