"""The one place where domain errors become HTTP: a status code, then JSON for the API or an
error page for the pages (and the sign-in page for someone who has not signed in)."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import NotAuthorizedException
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from training.errors import (
    ClinicastError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    StorageUnavailable,
    ValidationError,
)
from web.auth import known_user

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


def to_sign_in(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A page asked for by someone who has not signed in: the sign-in page, not a 401."""
    return Redirect(request.app.route_reverse("login"), status_code=303)


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The error page, with the status the API would answer."""
    if isinstance(exc, NotAuthorizedException):
        return to_sign_in(request, exc)
    status = status_for(exc) if isinstance(exc, ClinicastError) else 500
    return Template(
        "lectures/error.html",
        context={"user": known_user(request), "status": status, "detail": str(exc)},
        status_code=status,
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {ClinicastError: domain_error_handler}
PAGE_ERRORS: ExceptionHandlersMap = {ClinicastError: error_page, NotAuthorizedException: to_sign_in}
"""For controllers of pages: domain errors as error pages, signed out as the sign-in page."""
SIGN_IN_FIRST: ExceptionHandlersMap = {NotAuthorizedException: to_sign_in}
"""For pages that keep the API's JSON errors but send strangers to sign in (the player)."""
