"""What every response carries for the browser's protection, the CSRF check that bearer-token
callers skip, and who may read the operators' endpoints (metrics, readiness detail, schema).

The Content-Security-Policy allows our own scripts and styles only (the templates have no inline
script or style; the one ``<script type="application/json">`` is data, which CSP does not
govern), ``blob:`` for hls.js (it feeds MediaSource through blob: URLs and may start a worker
from a blob), and, in direct delivery, the object store's origin for segments, captions and
posters. The OpenAPI page (``/schema``) loads its viewer from a CDN with an inline script: it
gets a policy of its own.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import Message, Receive, Scope, Send

from infra.settings import Settings
from training.accounts.models import Role
from web.auth import bearer_token, has_session_cookie

SCHEMA_PATH = "/schema"


def content_security_policy(settings: Settings) -> str:
    media = "'self' blob:"
    if settings.direct_media_delivery:
        endpoint = urlsplit(settings.storage_endpoint)
        media += f" {endpoint.scheme}://{endpoint.netloc}"
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {media} data:",
            f"media-src {media}",
            f"connect-src {media}",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


SCHEMA_POLICY = "; ".join(  # the viewers Litestar serves under /schema: Redoc, Swagger…
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https://cdn.redoc.ly https://cdn.jsdelivr.net "
        "https://unpkg.com",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com "
        "https://fonts.googleapis.com",
        "font-src 'self' https://fonts.gstatic.com",
        "img-src 'self' data: https:",
        "worker-src 'self' blob:",
        "frame-ancestors 'none'",
    )
)


def security_headers(settings: Settings) -> Any:
    """A ``before_send`` hook adding the headers to every HTTP response."""
    policy = content_security_policy(settings)
    fixed = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "X-Frame-Options": "DENY",  # for browsers without frame-ancestors
    }
    if settings.secure_cookies:
        fixed["Strict-Transport-Security"] = "max-age=31536000"

    def add_headers(message: Message, scope: Scope) -> None:
        if scope["type"] != ScopeType.HTTP or message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in fixed.items():
            headers[name] = value
        schema = scope["path"] == SCHEMA_PATH or scope["path"].startswith(SCHEMA_PATH + "/")
        headers["Content-Security-Policy"] = SCHEMA_POLICY if schema else policy

    return add_headers


class BearerAwareCSRFMiddleware(CSRFMiddleware):
    """Litestar's CSRF check, skipped for a request that authenticates with a bearer token and
    carries no session cookie: a browser never adds that header to a cross-site request on its
    own (it would need a CORS preflight, which the portal never grants), and without the
    cookie there is no ambient credential to abuse."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == ScopeType.HTTP
            and bearer_token(scope)
            and not has_session_cookie(scope)
        ):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def has_operator_token(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> bool:
    expected = settings.web.metrics_token
    presented = bearer_token(connection.scope)
    return bool(
        expected is not None
        and presented is not None
        and hmac.compare_digest(presented.encode(), expected.get_secret_value().encode())
    )


def metrics_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Metrics for anyone while no token is set (the embedded mode on loopback); with
    ``CLINICAST_WEB__METRICS_TOKEN``, for its bearer only."""
    settings: Settings = connection.app.state.settings
    if settings.web.metrics_token is not None and not has_operator_token(connection, settings):
        raise NotAuthorizedException("metrics need the metrics token")


def may_see_detail(request: Request[Any, Any, Any], user_role: Role | None) -> bool:
    """Readiness detail (which check failed, worker names): for admins and the metrics token;
    everyone else gets ready or not."""
    settings: Settings = request.app.state.settings
    return user_role is Role.ADMIN or has_operator_token(request, settings)
