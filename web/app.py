"""The app factory: ``create_app(settings)`` builds the portal from plain settings."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from litestar import Litestar, Request
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import MutableScopeHeaders, State
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import Message, Scope

from infra.jobs.engine import CeleryDispatcher, import_job_modules, make_celery
from infra.runtime import open_database
from infra.settings import Settings, load_settings
from infra.storage.factory import blob_store_from_settings
from training.attendance.reports import may_see_lecture_report, may_see_reports
from training.lectures.rules import may_schedule
from web import i18n
from web.assets import StaticAssets, asset_handler
from web.auth import current_user
from web.controllers.account import AccountApi, AccountPages
from web.controllers.admin import AdminPages
from web.controllers.attendance_api import AttendanceApi
from web.controllers.attendance_pages import AttendancePages
from web.controllers.attendance_reports import AttendanceReportsApi
from web.controllers.health import HealthController
from web.controllers.lectures import LecturePages
from web.controllers.lectures_api import LecturesApi
from web.controllers.media import MediaController
from web.controllers.pages import PagesController
from web.controllers.pipeline import PipelineApi
from web.controllers.player import PlayerController
from web.controllers.search import SearchController
from web.controllers.transcripts import TranscriptApi
from web.controllers.uploads import UploadApi
from web.deps import dependencies
from web.errors import EXCEPTION_HANDLERS
from web.params import ids_in_range
from web.security import SCHEMA_PATH, BearerAwareCSRFMiddleware, metrics_guard, security_headers
from web.state import Services

HERE = Path(__file__).parent
# Compressed on the way out: pages, JSON, playlists, captions. Not what is compressed already
# (video and audio segments, pictures, downloads) nor the assets (precompressed, web/assets.py).
UNCOMPRESSED = [r"^/assets/", r"^/static/", r"\.(m4s|mp4|m4a|jpe?g|png|webp)$", r"/download$"]


class HttpMetricsController(PrometheusController):
    path = "/metrics/http"
    guards = [metrics_guard]  # noqa: RUF012 - Litestar reads it as a class attribute


def allow_every_method(message: Message, scope: Scope) -> None:
    """Litestar 2 answers OPTIONS on a path with several handlers (GET and POST
    /api/v1/lectures) naming only the methods of the first one registered (litestar#4169,
    fixed in 3.0): name every method the path has."""
    if scope["type"] != ScopeType.HTTP or scope["method"] != "OPTIONS":
        return
    handler = scope.get("route_handler")
    if message["type"] != "http.response.start" or handler is None:
        return
    headers = MutableScopeHeaders.from_message(message)
    routes = scope["litestar_app"].route_handler_method_map
    methods = {method for path in handler.paths for method in routes.get(path, {})}
    if "allow" in headers and methods:
        headers["Allow"] = ", ".join(sorted(methods))


def build_services(settings: Settings) -> Services:
    import_job_modules(settings)
    celery = make_celery(settings)
    dispatcher = CeleryDispatcher(celery)
    database = open_database(settings, after_commit=dispatcher.after_commit)
    dispatcher.session_factory = database.sessions
    return Services(
        settings=settings,
        engine=database.engine,
        sessions=database.sessions,
        blobs=blob_store_from_settings(settings),
        celery=celery,
    )


def create_app(settings: Settings, services: Services | None = None) -> Litestar:
    services = services or build_services(settings)
    secret = hashlib.sha256(settings.secret_key().encode()).digest()
    csrf = CSRFConfig(
        secret=secret.hex(),
        cookie_samesite="lax",
        cookie_secure=settings.secure_cookies,
        safe_methods={"GET", "HEAD", "OPTIONS"},
    )

    def set_locale(request: Request[Any, Any, Any]) -> None:
        if request.url.path.startswith(("/media/", "/static/", "/assets/")):
            return  # segment and asset requests: no page, no language, no database read
        user = current_user(request, services)
        if request.url.path.startswith(SCHEMA_PATH) and not settings.web.public_schema and not user:
            raise NotAuthorizedException("the API schema is for signed-in users")
        # request.state, not a context variable: sync handlers run in worker threads.
        request.state.locale = i18n.negotiate(
            user.locale if user else None,
            request.cookies.get("lang"),
            settings.web.default_locale,
        )

    template_config = TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)
    jinja = template_config.engine_instance.engine
    jinja.globals.update(
        _=i18n.template_gettext, current_locale=i18n.template_locale, may_schedule=may_schedule
    )
    jinja.globals.update(
        may_see_reports=may_see_reports, may_see_lecture_report=may_see_lecture_report
    )
    jinja.filters["localtime"] = i18n.localtime
    assets = StaticAssets(HERE / "static")
    jinja.globals["asset"] = assets.url
    return Litestar(
        route_handlers=[
            PagesController,
            AccountPages,
            AccountApi,
            HealthController,
            LecturePages,
            AdminPages,
            PlayerController,
            SearchController,
            LecturesApi,
            AttendanceApi,
            AttendanceReportsApi,
            AttendancePages,
            UploadApi,
            PipelineApi,
            TranscriptApi,
            MediaController,
            HttpMetricsController,
            asset_handler(assets),
            create_static_files_router(path="/static", directories=[HERE / "static"]),
        ],
        dependencies=dependencies(services),
        before_request=set_locale,
        guards=[ids_in_range],
        before_send=[allow_every_method, security_headers(settings)],
        middleware=[
            CookieBackendConfig(
                secret=secret,
                httponly=True,
                samesite="lax",
                secure=settings.secure_cookies,
                max_age=12 * 3600,
            ).middleware,
            PrometheusConfig(
                app_name="clinicast", prefix="clinicast", exclude=["/metrics"]
            ).middleware,
            # Litestar's CSRF check, minus requests that carry a bearer token and no session.
            DefineMiddleware(BearerAwareCSRFMiddleware, config=csrf),
        ],
        compression_config=CompressionConfig(
            backend="brotli", brotli_gzip_fallback=True, minimum_size=500, exclude=UNCOMPRESSED
        ),
        template_config=template_config,
        openapi_config=OpenAPIConfig(title="Clinicast API", version="1", path="/schema"),
        exception_handlers=EXCEPTION_HANDLERS,
        state=State({"settings": settings}),
    )


def create_app_from_environment() -> Litestar:
    """uvicorn's factory (``clinicast serve``): settings from the environment."""
    return create_app(load_settings())
