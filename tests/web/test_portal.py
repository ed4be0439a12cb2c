"""The portal skeleton through Litestar's test client: pages in both languages, sign-in with
CSRF and a rate limit, the API's authorisation, health, readiness, metrics and OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlmodel import Session

from infra.seed import seed
from infra.settings import Settings
from tests.conftest import settings_from
from tests.support.web import PASSWORD
from tests.support.web import sign_in as sign_in_with
from training.accounts.models import Role
from training.accounts.services import AccountService
from training.base import utcnow
from training.clinics.services import ClinicService
from training.jobs.services import JobService
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.search.services import SearchService
from web.app import build_services, create_app


@pytest.fixture
def settings(embedded_settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    return settings_from(embedded_settings_env, monkeypatch)


@pytest.fixture
def app(settings: Settings) -> Iterator[Litestar]:
    services = build_services(settings)
    from infra.db import upgrade

    upgrade(services.engine)
    with services.sessions() as session:
        seed(session)
        _add_people_and_a_private_lecture(session)
    yield create_app(settings, services)
    services.engine.dispose()


def _add_people_and_a_private_lecture(session: Session) -> None:
    clinics, accounts = ClinicService(session), AccountService(session)
    inside = clinics.by_region_code("139901001001")
    outside_township = clinics.by_region_code("139901009000")
    accounts.create("doc-in", PASSWORD, Role.DOCTOR, clinic=inside, locale="en")
    accounts.create("root", PASSWORD, Role.ADMIN)
    accounts.create("doc-out", PASSWORD, Role.DOCTOR, clinic=clinics.by_region_code("139901009001"))
    specialist = accounts.by_username("specialist")
    assert specialist is not None
    assert outside_township is not None
    assert outside_township.id is not None
    private = LectureDraft(
        "仅限九号乡镇的课程",
        audience=[(outside_township.id, True)],
        scheduled_start=utcnow() + timedelta(days=1),
    )
    LectureService(session, SearchService(session)).schedule(specialist, private)
    session.commit()


def sign_in(client: TestClient[Litestar], username: str, password: str = PASSWORD) -> int:
    return sign_in_with(client, username, password)


def test_home_page_asks_to_sign_in_in_chinese_by_default(app: Litestar) -> None:
    with TestClient(app) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert '<html lang="zh-CN">' in page.text
        assert "请登录查看您所在机构的课程" in page.text
        client.post(
            "/lang", data={"locale": "en", "_csrf_token": client.cookies.get("csrftoken", "")}
        )
        assert "Sign in to see the lectures for your clinic." in client.get("/").text


def test_signed_in_doctor_sees_the_lectures_of_their_clinic_in_their_language(
    app: Litestar,
) -> None:
    with TestClient(app) as client:
        assert sign_in(client, "doc-in") == 303
        page = client.get("/")
        assert '<html lang="en">' in page.text  # the user's own locale
        assert "老年高血压患者的降压药调整" in page.text
        assert "仅限九号乡镇的课程" not in page.text


def test_sign_in_without_csrf_token_is_refused(app: Litestar) -> None:
    with TestClient(app) as client:
        client.get("/login")
        response = client.post("/login", data={"username": "doc-in", "password": PASSWORD})
        assert response.status_code == 403


def test_failed_sign_ins_make_the_account_wait(app: Litestar) -> None:
    with TestClient(app) as client:
        codes = [sign_in(client, "doc-in", "wrong-password") for _ in range(4)]
        assert codes == [401] * 3 + [429]
        assert sign_in(client, "doc-in") == 429  # even the right password waits


def test_api_lists_only_visible_lectures_and_forbids_the_others(app: Litestar) -> None:
    with TestClient(app) as client:
        assert client.get("/api/v1/lectures").status_code == 401
        sign_in(client, "doc-in")
        titles = [lecture["title"] for lecture in client.get("/api/v1/lectures").json()]
        assert "老年高血压患者的降压药调整" in titles
        assert "仅限九号乡镇的课程" not in titles
        private_id = 4  # the three seeded lectures come first
        assert client.get(f"/api/v1/lectures/{private_id}").status_code == 403
        assert client.get("/api/v1/lectures/999").status_code == 404
    with TestClient(app) as client:
        sign_in(client, "doc-out")  # of a village in township 9: the private lecture is theirs
        assert client.get(f"/api/v1/lectures/{private_id}").json()["title"] == "仅限九号乡镇的课程"


def test_openapi_schema_describes_the_api(app: Litestar) -> None:
    with TestClient(app) as client:
        schema = client.get("/schema/openapi.json").json()
        assert schema["info"]["title"] == "Clinicast API"
        assert "/api/v1/lectures" in schema["paths"]


def test_health_readiness_and_metrics(app: Litestar, settings: Settings) -> None:
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"ready": False}  # no detail for strangers
        assert sign_in(client, "root") == 303
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        checks = not_ready.json()["checks"]
        assert [checks[name]["ok"] for name in ("database", "storage", "broker")] == [True] * 3
        assert checks["workers"] == {"ok": False, "error": "no worker has been seen recently"}

        services = build_services(settings)
        with services.sessions() as session:
            JobService(session).touch_worker("worker-1@test", "media,speech")
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["workers"]["detail"] == ["worker-1@test"]

        metrics = client.get("/metrics").text
        assert "clinicast_workers_live 1.0" in metrics
        assert client.get("/metrics/http").status_code == 200
