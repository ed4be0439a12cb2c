"""Uploading a lecture's recording in resumable parts (``/api/v1/lectures/{id}/upload``): begin
or resume, send the parts in any order, complete to queue the pipeline. For the lecture's
specialist and admins (the media service checks)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, JSONBody, RawBody
from pydantic import BaseModel, Field

from training.errors import NotFoundError
from training.media.services import MIB, PART_SIZE, MediaService
from web.controllers.pipeline import PipelineOut, pipeline_out
from web.deps import AppServices, DbSession, SignedInUser
from web.state import Services

PART_BODY_LIMIT = PART_SIZE + 64 * 1024
"""The largest body a part request may have: Litestar refuses a larger Content-Length with 413
before reading, and stops reading a body that grows past it."""


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


class PartReceived(BaseModel):
    part_number: int
    size: int


def media_service(services: Services, session: DbSession) -> MediaService:
    """The media service with the portal's upload limit."""
    limit = services.settings.web.max_upload_mb * MIB
    return MediaService(session, services.blobs, max_upload_bytes=limit)


class UploadApi(Controller):
    path = "/api/v1/lectures/{lecture_id:int}/upload"
    tags = ["lectures"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/", status_code=200, sync_to_thread=True)
    def begin_upload(
        self,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
        data: JSONBody[UploadBegin],
    ) -> UploadStateOut:
        """Start an upload, or resume the one in progress for the same file name and size:
        ``parts`` says which parts already arrived."""
        state = media_service(services, session).begin_upload(
            user, lecture_id, filename=data.filename, size=data.size,
            content_type=data.content_type,
        )  # fmt: skip
        session.commit()
        return UploadStateOut.model_validate(state, from_attributes=True)

    @get("/", sync_to_thread=True)
    def upload_state(
        self,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
    ) -> UploadStateOut:
        """The upload in progress (404 when there is none)."""
        state = media_service(services, session).upload_state(user, lecture_id)
        if state is None:
            raise NotFoundError(f"no upload in progress for lecture {lecture_id}")
        return UploadStateOut.model_validate(state, from_attributes=True)

    @put(
        "/{upload_id:str}/parts/{part_number:int}",
        sync_to_thread=True,
        request_max_body_size=PART_BODY_LIMIT,
    )
    def upload_part(
        self,
        *,
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
        upload_id: FromPath[str],
        part_number: FromPath[int],
        body: RawBody,
    ) -> PartReceived:
        """One part, the raw bytes as the body; sending a part again replaces it."""
        media_service(services, session).upload_part(user, lecture_id, upload_id, part_number, body)
        return PartReceived(part_number=part_number, size=len(body))

    @post("/{upload_id:str}/complete", status_code=200, sync_to_thread=True)
    def complete_upload(
        self,
        *,
        request: Request[Any, Any, Any],
        services: AppServices,
        session: DbSession,
        user: SignedInUser,
        lecture_id: FromPath[int],
        upload_id: FromPath[str],
    ) -> PipelineOut:
        """Assemble the parts (400 while any is missing) and queue the pipeline."""
        media_service(services, session).complete_upload(user, lecture_id, upload_id)
        session.commit()  # the after-commit hook announces the queued probe
        return pipeline_out(request, services, session, lecture_id)
