"""The portal's pages: home (the lectures a user may see), sign-in and sign-out."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from training.accounts.services import AccountService
from training.lectures.services import LectureService
from web.auth import SESSION_USER, LoginThrottle, current_user
from web.i18n import LOCALES
from web.state import Services

throttle = LoginThrottle()


class PagesController(Controller):
    @get("/", name="home", sync_to_thread=True)
    def home(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> Template:
        user = current_user(request, services)
        lectures = []
        if user is not None:
            with services.sessions() as session:
                lectures = LectureService(session).visible_to(user)
        return Template("home.html", context={"user": user, "lectures": lectures})

    @get("/login", name="login", sync_to_thread=False)
    def login_form(self) -> Template:
        return Template("login.html", context={"error": None})

    @post("/login", status_code=200, sync_to_thread=True)
    def login(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
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
        with services.sessions() as session:
            user = AccountService(session).authenticate(username, data.get("password", ""))
            session.commit()
        if user is None:
            throttle.failed(*keys)
            return Template(
                "login.html", context={"error": "Wrong username or password."}, status_code=401
            )
        request.set_session({SESSION_USER: user.id})
        return Redirect("/", status_code=303)

    @post("/logout", status_code=303, sync_to_thread=False)
    def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/", status_code=303)

    @get("/lang/{locale:str}", name="set_language", sync_to_thread=True)
    def set_language(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        locale: FromPath[str],
    ) -> Redirect:
        """Switch the interface language: for this browser (a cookie) and, when signed in, for
        the user everywhere (their locale beats the cookie)."""
        back = request.headers.get("referer") or "/"
        response = Redirect(
            back if back.startswith(str(request.base_url)) else "/", status_code=303
        )
        if locale in LOCALES:
            response.set_cookie("lang", locale, max_age=365 * 24 * 3600, samesite="lax")
            user = current_user(request, services)
            if user is not None and user.id is not None:
                with services.sessions() as session:
                    AccountService(session).set_locale(user.id, locale)
                    session.commit()
        return response
