"""The portal's pages: home (the lectures a user may see), sign-in and sign-out, and the
interface language."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from training.accounts.services import AccountService
from training.lectures.services import LectureService
from web.auth import SESSION_USER, LoginThrottle
from web.deps import DbSession, Visitor
from web.i18n import LOCALES

throttle = LoginThrottle()


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
        session: DbSession,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        username = data.get("username", "").strip()
        client = request.client.host if request.client else "unknown"
        keys = (f"ip:{client}", f"user:{username}")
        if throttle.blocked(*keys):
            return Template(
                "login.html",
                context={"error": "Too many failed sign-ins; wait a minute."},
                status_code=429,
            )
        user = AccountService(session).authenticate(username, data.get("password", ""))
        session.commit()
        if user is None:
            throttle.failed(*keys)
            return Template(
                "login.html", context={"error": "Wrong username or password."}, status_code=401
            )
        request.set_session({SESSION_USER: user.id})
        return Redirect(request.app.route_reverse("home"), status_code=303)

    @post("/logout", name="logout", status_code=303, sync_to_thread=False)
    def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect(request.app.route_reverse("home"), status_code=303)

    @get("/lang/{locale:str}", name="set_language", sync_to_thread=True)
    def set_language(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        visitor: Visitor,
        locale: FromPath[str],
    ) -> Redirect:
        """Switch the interface language: for this browser (a cookie) and, when signed in, for
        the user everywhere (their locale beats the cookie)."""
        home = request.app.route_reverse("home")
        back = request.headers.get("referer") or home
        response = Redirect(
            back if back.startswith(str(request.base_url)) else home, status_code=303
        )
        if locale in LOCALES:
            response.set_cookie("lang", locale, max_age=365 * 24 * 3600, samesite="lax")
            if visitor is not None and visitor.id is not None:
                AccountService(session).set_locale(visitor.id, locale)
                session.commit()
        return response
