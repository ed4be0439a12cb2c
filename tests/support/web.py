"""Signing in through the portal's own form, for Litestar test clients."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient


def sign_in(client: TestClient[Litestar], username: str, password: str) -> int:
    """Fetch the form (for its CSRF cookie), post the credentials; the response's status."""
    client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "_csrf_token": client.cookies.get("csrftoken", ""),
        },
        follow_redirects=False,
    )
    return response.status_code
