"""Interface language: Simplified Chinese by default, English as the other choice.

The catalogue is keyed by the English text; its Chinese entries live in ``web/translations``,
one module per area of the portal. The locale of a request comes from the signed-in
user, then the ``lang`` cookie, then the portal's default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import pass_context
from jinja2.runtime import Context

from web.translations import account, attendance, core, lectures, player

LOCALES = ("zh-CN", "en")

CATALOGUES: dict[str, dict[str, str]] = {
    "zh-CN": {**core.ZH_CN, **lectures.ZH_CN, **player.ZH_CN, **account.ZH_CN, **attendance.ZH_CN},
    "en": {},
}


def translate(message: str, locale: str) -> str:
    return CATALOGUES.get(locale, {}).get(message, message)


def request_locale(context: Context) -> str:
    """The locale the app put on the request (``request.state.locale``) before the handler."""
    request: Any = context.get("request")
    return str(getattr(request.state, "locale", "zh-CN")) if request is not None else "zh-CN"


@pass_context
def template_gettext(context: Context, message: str) -> str:
    """``_()`` in templates."""
    return translate(message, request_locale(context))


@pass_context
def template_locale(context: Context) -> str:
    return request_locale(context)


def negotiate(user_locale: str | None, cookie: str | None, default: str) -> str:
    for candidate in (user_locale, cookie, default):
        if candidate in LOCALES:
            return candidate
    return "zh-CN"


def localtime(moment: datetime, timezone: str) -> str:
    """A UTC datetime shown in the user's time zone (``Asia/Shanghai`` by default)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Asia/Shanghai")
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
