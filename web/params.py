"""Path parameters the database can hold: Litestar's ``int`` converter takes any whole number,
and one beyond the database's integer range (``/lectures/99999999999999999999``) would reach
SQL as an overflow (a 500). Such an id names nothing: 404, on every route."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler

from training.clinics.models import ID_MAX


def ids_in_range(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard: 404 for a whole-number path parameter outside 0…``ID_MAX``."""
    for name, value in connection.path_params.items():
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= ID_MAX:
            raise NotFoundException(f"no {name.removesuffix('_id')} {value}")
