"""Interface language: Simplified Chinese by default, English as the other choice.

The catalogue is keyed by the English text. The locale of a request comes from the signed-in
user, then the ``lang`` cookie, then the portal's default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import pass_context
from jinja2.runtime import Context

LOCALES = ("zh-CN", "en")

ZH_CN = {
    "Clinicast": "县域医学远程培训",
    "Lectures": "课程",
    "Upcoming and recent lectures": "近期课程",
    "No lectures yet.": "暂无课程。",
    "Sign in": "登录",
    "Sign out": "退出",
    "Username": "用户名",
    "Password": "密码",
    "Wrong username or password.": "用户名或密码错误。",
    "Sign in to see the lectures for your clinic.": "请登录查看您所在机构的课程。",
    "Scheduled": "计划时间",
    "Status": "状态",
    "Title": "标题",
    "Mandatory": "必修",
    "Optional": "选修",
    "draft": "草稿",
    "scheduled": "已排期",
    "live": "直播中",
    "processing": "处理中",
    "published": "可点播",
    "failed": "失败",
    "cancelled": "已取消",
    "Language": "语言",
    "Signed in as": "当前用户",
    "Too many failed sign-ins; wait a minute.": "登录失败次数过多，请稍后再试。",
}
CATALOGUES = {"zh-CN": ZH_CN, "en": {}}


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
