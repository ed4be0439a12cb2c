"""The one place where domain errors become HTTP status codes."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response

from training.errors import (
    ClinicastError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    StorageUnavailable,
    ValidationError,
)

STATUS = (
    (NotFoundError, 404),
    (PermissionDeniedError, 403),
    (ValidationError, 400),
    (ConflictError, 409),
    (StorageUnavailable, 503),
)


def status_for(exc: ClinicastError) -> int:
    for error_type, status in STATUS:
        if isinstance(exc, error_type):
            return status
    return 500


def domain_error_handler(
    request: Request[Any, Any, Any], exc: ClinicastError
) -> Response[dict[str, str]]:
    status = status_for(exc)
    return Response(
        {"error": type(exc).__name__, "detail": str(exc)},
        status_code=status,
        media_type=MediaType.JSON,
    )


EXCEPTION_HANDLERS = {ClinicastError: domain_error_handler}
