"""The portal's pages: home (the lectures a user may see), sign-in and sign-out, and the
interface language."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from training.accounts.services import AccountService
from training.accounts.throttle import SignInThrottle
from training.lectures.services import LectureService
from web.auth import client_address, start_session
from web.deps import AppServices, DbSession, Visitor
from web.forms import FormData, form_text
from web.i18n import LOCALES


class PagesController(Controller):
    @get("/", name="home", sync_to_thread=True)
    def home(self, session: DbSession, visitor: Visitor) -> Template:
        lectures = LectureService(session).visible_to(visitor) if visitor is not None else []
        return Template("home.html", context={"user": visitor, "lectures": lectures})

    @get("/login", name="login", sync_to_thread=False)
    def login_form(self) -> Template:
        return Template("login.html", context={"error": None})

    @post("/login", status_code=200, sync_to_thread=True)
    def login(
        self,
        request: Request[Any, Any, Any],
        services: AppServices,
        session: DbSession,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        """Sign in. Each failure makes the next attempt for the account wait longer (and,
        more loosely, for the address): back-off, shared by every portal process."""
        username = data.get("username", "").strip()
        peer = request.client.host if request.client else None
        address = client_address(
            peer, request.headers.get("x-forwarded-for"), services.settings.web.trusted_proxies
        )
        throttle = SignInThrottle(session)
        wait = throttle.reserve(username, address)
        if wait > 0:
            return Template(
                "login.html",
                context={"error": "Too many failed sign-ins; try again in a moment."},
                status_code=429,
                headers={"Retry-After": str(max(1, round(wait)))},
            )
        user = AccountService(session).authenticate(username, data.get("password", ""))
        if user is None:
            session.commit()
            return Template(
                "login.html", context={"error": "Wrong username or password."}, status_code=401
            )
        throttle.succeeded(username, address)
        session.commit()
        start_session(request, user)
        return Redirect(request.app.route_reverse("home"), status_code=303)

    @post("/logout", name="logout", status_code=303, sync_to_thread=False)
    def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        """Sign out on this browser ("sign out everywhere" is on the account page)."""
        request.clear_session()
        return Redirect(request.app.route_reverse("home"), status_code=303)

    @post("/lang", name="set_language", sync_to_thread=True)
    def set_language(
        self, request: Request[Any, Any, Any], session: DbSession, visitor: Visitor, data: FormData
    ) -> Redirect:
        """Switch the interface language: for this browser (a cookie) and, when signed in, for
        the user everywhere (their locale beats the cookie). A POST with the CSRF token: a
        page elsewhere cannot change a user's language."""
        home = request.app.route_reverse("home")
        back = request.headers.get("referer") or home
        response = Redirect(
            back if back.startswith(str(request.base_url)) else home, status_code=303
        )
        locale = form_text(data, "locale")
        if locale in LOCALES:
            secure = request.app.state.settings.secure_cookies
            response.set_cookie(
                "lang", locale, max_age=365 * 24 * 3600, samesite="lax", secure=secure
            )
            if visitor is not None and visitor.id is not None:
                AccountService(session).set_locale(visitor.id, locale)
                session.commit()
        return response
