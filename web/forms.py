"""HTML forms as the domain's drafts. A form only parses (text into numbers, dates and choices);
whether the values make a valid lecture is the draft's to say (``training.lectures.rules``), so
the form and the API refuse the same things with the same words."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from litestar.enums import RequestEncodingType
from litestar.params import Body

from training.lectures.models import Language
from training.lectures.rules import LectureDraft

FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
MultipartData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]

FORM_FIELDS = {"attendance_share": "attendance_percent"}
"""The form's name of a draft field, where they differ (the form asks for a percentage)."""


def form_text(form: Mapping[str, Any], name: str) -> str:
    """One field's text, trimmed (the last value if the field came several times)."""
    value = form.get(name, "")
    return str(value[-1] if isinstance(value, list) else value).strip()


def form_ints(form: Mapping[str, Any], name: str) -> list[int]:
    """Every value of a repeated field that is a whole number (ticked checkboxes)."""
    raw = form.get(name, [])
    values = raw if isinstance(raw, list) else [raw]
    return [int(value) for value in values if _is_whole_number(str(value))]


def _is_whole_number(text: str) -> bool:
    """ASCII digits only: ``"²".isdigit()`` holds, yet ``int("²")`` fails."""
    return text.isascii() and text.isdigit()


def _whole_number(text: str, default: int) -> int:
    """What is not a whole number is out of every range: the draft then says what is wrong."""
    if not text:
        return default
    return int(text) if _is_whole_number(text) else -1


def parse_lecture_form(form: Mapping[str, Any]) -> tuple[LectureDraft, dict[str, str]]:
    """The draft the form describes, and the message (an English catalogue key) for each field
    that could not even be read; unreadable fields keep their defaults in the draft."""
    unreadable: dict[str, str] = {}
    start: datetime | None = None
    if form_text(form, "scheduled_start"):
        try:
            start = datetime.fromisoformat(form_text(form, "scheduled_start"))
        except ValueError:
            unreadable["scheduled_start"] = "Enter the date and time as YYYY-MM-DD HH:MM."
    language = form_text(form, "language") or Language.ZH.value
    if language not in {item.value for item in Language}:
        unreadable["language"], language = "Choose Chinese or English.", Language.ZH.value
    draft = LectureDraft(
        title=form_text(form, "title"),
        audience=[(clinic_id, True) for clinic_id in form_ints(form, "audience")],
        scheduled_start=start,
        description=form_text(form, "description"),
        keywords=form_text(form, "keywords"),
        language=Language(language),
        duration_minutes=_whole_number(form_text(form, "duration_minutes"), 60),
        mandatory=form_text(form, "mandatory") == "yes",
        attendance_share=_whole_number(form_text(form, "attendance_percent"), 50) / 100,
    )
    return draft, unreadable


def form_problems(problems: Mapping[str, str]) -> dict[str, str]:
    """The draft's problems under the form's field names."""
    return {FORM_FIELDS.get(field, field): message for field, message in problems.items()}
