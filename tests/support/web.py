"""A portal for Litestar test clients: signing in through its own form, and a seeded portal
with one signed-in caller per role (``open_portal``), shared by the web test modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from infra.db import upgrade
from infra.seed import seed
from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY, settings_from
from training.accounts.models import Role
from training.accounts.services import AccountService
from training.clinics.services import ClinicService
from web.app import build_services, create_app
from web.state import Services

PASSWORD = "village-pass-1"
"""The password of the accounts the web tests make themselves (seeded ones get generated ones)."""


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


MAX_UPLOAD_MB = 64
ROLES = ("admin", "coordinator", "owner", "other_specialist", "doctor_in", "doctor_out", "anon")
USERNAMES = {
    "admin": "admin",
    "coordinator": "coordinator",  # the county's root: sees everything in the county
    "owner": "specialist",  # gives the lecture under test
    "other_specialist": "specialist-2",
    "doctor_in": "village-doctor",  # a village of township 1, the lecture's audience
    "doctor_out": "doc-out",  # a village of township 9
}


class Caller:
    """One role's identity (its cookies) on the portal's one test client: Litestar test
    clients open side by side leak anyio streams, so the roles take turns on one."""

    def __init__(self, client: TestClient[Litestar], cookies: dict[str, str]) -> None:
        self.client, self.cookies = client, cookies

    @property
    def csrf(self) -> dict[str, str]:
        return {"x-csrftoken": self.cookies.get("csrftoken", "")}

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.client.cookies.clear()
        for name, value in self.cookies.items():
            self.client.cookies.set(name, value, domain="testserver.local")
        return self.client.request(method, url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **{"headers": self.csrf, **kwargs})

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **{"headers": self.csrf, **kwargs})


@dataclass
class Portal:
    app: Litestar
    services: Services
    passwords: dict[str, str]
    callers: dict[str, Caller] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    def region(self, code: str) -> int:
        with self.services.sessions() as session:
            clinic = ClinicService(session).by_region_code(code)
            assert clinic is not None
            assert clinic.id is not None
            return clinic.id

    def as_user(self, client: TestClient[Litestar], username: str, password: str) -> Caller:
        """A caller signed in as ``username`` (created now if it is not there yet)."""
        client.cookies.clear()
        if username not in self.passwords:
            raise KeyError(username)
        assert sign_in(client, username, password) == 303
        return Caller(client, dict(client.cookies))


@contextmanager
def open_portal(data_dir: Path, s3: EmbeddedSeaweedFS) -> Iterator[Portal]:
    """A seeded portal with a signed-in caller per role (the anonymous one holds a CSRF
    cookie), built once per module: seeding and argon2 are the slow parts."""
    env = {
        "CLINICAST_DATA_DIR": str(data_dir),
        "CLINICAST_STORAGE__ENDPOINT_URL": s3.endpoint_url,
        "CLINICAST_STORAGE__BUCKET": s3.bucket,
        "CLINICAST_STORAGE__ACCESS_KEY": S3_ACCESS_KEY,
        "CLINICAST_STORAGE__SECRET_KEY": S3_SECRET_KEY,
        "CLINICAST_WEB__MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
    }
    with pytest.MonkeyPatch.context() as monkeypatch:
        settings = settings_from(env, monkeypatch)
    services = build_services(settings)
    upgrade(services.engine)
    with services.sessions() as session:
        _, created = seed(session)
        passwords = dict(created)
        clinics, accounts = ClinicService(session), AccountService(session)
        accounts.create("specialist-2", PASSWORD, Role.SPECIALIST)
        accounts.create(
            "doc-out", PASSWORD, Role.DOCTOR, clinic=clinics.by_region_code("139901009001")
        )
        session.commit()
    passwords.update({"specialist-2": PASSWORD, "doc-out": PASSWORD})
    portal = Portal(create_app(settings, services), services, passwords)
    with TestClient(portal.app) as client:
        for role in ROLES:
            if role == "anon":
                client.cookies.clear()
                client.get("/login")
                portal.callers[role] = Caller(client, dict(client.cookies))
            else:
                username = USERNAMES[role]
                portal.callers[role] = portal.as_user(client, username, passwords[username])
        yield portal
    services.engine.dispose()


def lecture_json(portal: Portal, **changes: Any) -> dict[str, Any]:
    return {
        "title": "基层常见皮肤病的识别",
        "audience": [{"clinic_id": portal.region("139901001000"), "include_subtree": True}],
        "scheduled_start": "2030-03-01T09:00:00",
        **changes,
    }
