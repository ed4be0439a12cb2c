"""The portal's defences through Litestar's test client: the secret key, cookies, security
headers, sessions that can be ended, the sign-in back-off (per account, shared by processes,
behind trusted proxies only), the language switch, and the operators' endpoints."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from infra.db import upgrade
from infra.seed import seed
from infra.settings import Settings
from tests.conftest import REPO, settings_env, settings_from
from tests.support.web import PASSWORD, sign_in
from training.accounts.models import Role
from training.accounts.services import AccountService
from training.clinics.services import ClinicService
from web.app import build_services, create_app
from web.state import Services

# --- the secret key -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "short", "x" * 31, "密钥" * 5])
def test_a_secret_key_under_32_bytes_stops_start_up_with_one_line(tmp_path: Path, key: str) -> None:
    env = settings_env({"CLINICAST_DATA_DIR": str(tmp_path), "CLINICAST_WEB__SECRET_KEY": key})
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "config"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid setting CLINICAST_WEB__SECRET_KEY:")
    assert "at least 32 bytes" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_secret_key_of_32_bytes_is_used_as_given(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, web={"secret_key": "k" * 32})
    assert settings.secret_key() == "k" * 32
    assert not (tmp_path / "secret_key").exists()


def _read_generated_key(data_dir: str, start: Any, results: Any) -> None:
    start.wait()
    try:
        results.put(Settings(data_dir=Path(data_dir)).secret_key())
    except Exception as exc:  # noqa: BLE001 - the parent reports what went wrong
        results.put(f"failed: {exc!r}")


def test_processes_starting_together_all_get_the_one_generated_key(tmp_path: Path) -> None:
    """Many processes ask for the generated key at the same instant, twenty times over: each
    gets a full key, and all get the same one."""
    context = multiprocessing.get_context("fork")
    for round_number in range(20):
        data_dir = tmp_path / f"round-{round_number}"
        start, results = context.Barrier(6), context.Queue()
        processes = [
            context.Process(target=_read_generated_key, args=(str(data_dir), start, results))
            for _ in range(6)
        ]
        for process in processes:
            process.start()
        keys = {results.get(timeout=60) for _ in processes}
        for process in processes:
            process.join(timeout=60)
        assert len(keys) == 1, keys
        key = keys.pop()
        assert len(key) >= 43, key
        assert (data_dir / "secret_key").read_text() == key
        assert sorted(path.name for path in data_dir.iterdir()) == ["secret_key"]


# --- a portal -------------------------------------------------------------------------------


@pytest.fixture
def make_portal(
    embedded_settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., tuple[Litestar, Services]]]:
    """``make_portal(**settings)``: a seeded portal with three known users; portals made
    from one test share the database, as the processes of one deployment do."""
    made: list[Services] = []

    def make(**env: str) -> tuple[Litestar, Services]:
        settings = settings_from({**embedded_settings_env, **env}, monkeypatch)
        services = build_services(settings)
        if not made:
            upgrade(services.engine)
            with services.sessions() as session:
                seed(session)
                clinics, accounts = ClinicService(session), AccountService(session)
                village = clinics.by_region_code("139901001001")
                accounts.create("doc-in", PASSWORD, Role.DOCTOR, clinic=village, locale="en")
                accounts.create("doc-two", PASSWORD, Role.DOCTOR, clinic=village)
                accounts.create("root", PASSWORD, Role.ADMIN)
                session.commit()
        made.append(services)
        return create_app(settings, services), services

    yield make
    for services in made:
        services.engine.dispose()


@pytest.fixture
def portal(make_portal: Callable[..., tuple[Litestar, Services]]) -> tuple[Litestar, Services]:
    return make_portal()


def user_field(services: Services, username: str, field: str) -> Any:
    with services.sessions() as session:
        user = AccountService(session).by_username(username)
        assert user is not None
        return getattr(user, field)


# --- cookies and headers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("public_url", "secure"), [("https://px.example.cn", True), ("http://10.1.1.5:8000", False)]
)
def test_cookies_are_secure_when_the_portal_is_reached_over_https(
    make_portal: Callable[..., tuple[Litestar, Services]], public_url: str, secure: bool
) -> None:
    app, _ = make_portal(CLINICAST_WEB__PUBLIC_BASE_URL=public_url)
    scheme = public_url.split(":", 1)[0]  # a client keeps a Secure cookie from http: to itself
    with TestClient(app, base_url=f"{scheme}://testserver.local") as client:
        csrf_cookie = client.get("/login").headers["set-cookie"]
        assert csrf_cookie.startswith("csrftoken=")
        response = client.post(
            "/login",
            data={
                "username": "doc-in",
                "password": PASSWORD,
                "_csrf_token": client.cookies["csrftoken"],
            },
        )
        session_cookie = response.headers["set-cookie"]
        assert session_cookie.startswith("session=")
        for cookie in (csrf_cookie, session_cookie):
            assert ("; Secure" in cookie or "; secure" in cookie) is secure, cookie
        assert "httponly" in session_cookie.lower()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/login", 200),
        ("POST", "/login", 403),  # no CSRF token
        ("GET", "/static/site.css", 200),
        ("GET", "/api/v1/lectures", 401),
        ("GET", "/healthz", 200),
        ("GET", "/no-such-page", 404),
    ],
)
def test_every_response_carries_the_security_headers(
    portal: tuple[Litestar, Services], method: str, path: str, status: int
) -> None:
    with TestClient(portal[0]) as client:
        response = client.request(method, path)
    assert response.status_code == status
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'self'"  # no inline script, no eval
    assert "blob:" in policy["worker-src"]  # hls.js
    assert "blob:" in policy["media-src"]  # hls.js feeds MediaSource through blob: URLs
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_the_schema_viewer_gets_a_policy_that_lets_it_load(
    portal: tuple[Litestar, Services],
) -> None:
    with TestClient(portal[0]) as client:
        page = client.get("/schema")
    policy = page.headers["content-security-policy"]
    assert "https://cdn.redoc.ly/redoc/" in page.text  # where Litestar's Redoc page loads from
    assert "https://cdn.redoc.ly" in policy
    assert "frame-ancestors 'none'" in policy


def test_direct_delivery_lets_the_player_reach_the_object_store(
    make_portal: Callable[..., tuple[Litestar, Services]], embedded_settings_env: dict[str, str]
) -> None:
    app, _ = make_portal(CLINICAST_MEDIA__DELIVERY="direct")
    origin = embedded_settings_env["CLINICAST_STORAGE__ENDPOINT_URL"].rstrip("/")
    with TestClient(app) as client:
        policy = client.get("/").headers["content-security-policy"]
    connect = next(d for d in policy.split(";") if d.strip().startswith("connect-src"))
    assert origin in connect.split()


# --- sessions that end ----------------------------------------------------------------------


def test_sign_out_everywhere_ends_a_copied_session_cookie(
    portal: tuple[Litestar, Services],
) -> None:
    with TestClient(portal[0]) as client:
        assert sign_in(client, "doc-in", PASSWORD) == 303
        stolen = dict(client.cookies)
        client.post(
            "/account/sign-out-everywhere", headers={"x-csrftoken": client.cookies["csrftoken"]}
        )
        assert client.get("/api/v1/lectures").status_code == 401
        client.cookies.clear()
        for name, value in stolen.items():
            client.cookies.set(name, value, domain="testserver.local")
        assert client.get("/api/v1/lectures").status_code == 401
        assert sign_in(client, "doc-in", PASSWORD) == 303  # signing in again works
        assert client.get("/api/v1/lectures").status_code == 200


def test_a_new_password_ends_the_other_sessions_and_keeps_this_one(
    portal: tuple[Litestar, Services],
) -> None:
    with TestClient(portal[0]) as client:
        assert sign_in(client, "doc-two", PASSWORD) == 303
        other_browser = dict(client.cookies)
        client.cookies.clear()
        assert sign_in(client, "doc-two", PASSWORD) == 303
        csrf = {"_csrf_token": client.cookies["csrftoken"]}
        wrong = client.post(
            "/account/password", data={**csrf, "current": "nope", "new": "another-pass-2"}
        )
        assert wrong.status_code == 400
        changed = client.post(
            "/account/password", data={**csrf, "current": PASSWORD, "new": "another-pass-2"}
        )
        assert changed.status_code == 200
        assert 'id="password-changed"' in changed.text
        assert client.get("/api/v1/lectures").status_code == 200  # this browser goes on
        client.cookies.clear()
        for name, value in other_browser.items():
            client.cookies.set(name, value, domain="testserver.local")
        assert client.get("/api/v1/lectures").status_code == 401
        assert sign_in(client, "doc-two", "another-pass-2") == 303


def test_deactivation_ends_sessions_for_good_even_after_reactivation(
    portal: tuple[Litestar, Services],
) -> None:
    app, services = portal
    user_id = user_field(services, "doc-in", "id")
    with TestClient(app) as client:
        assert sign_in(client, "doc-in", PASSWORD) == 303
        assert client.get("/api/v1/lectures").status_code == 200
        for active in (False, True):
            with services.sessions() as session:
                AccountService(session).set_active(user_id, active)
                session.commit()
            assert client.get("/api/v1/lectures").status_code == 401
        assert client.get("/").text.count('action="/login"') == 0  # a stranger's home page


def test_clinicast_users_deactivate_ends_the_sessions(
    portal: tuple[Litestar, Services], embedded_settings_env: dict[str, str]
) -> None:
    with TestClient(portal[0]) as client:
        assert sign_in(client, "doc-two", PASSWORD) == 303
        result = subprocess.run(
            [sys.executable, "-m", "infra.cli", "users", "deactivate", "doc-two"],
            env=settings_env(embedded_settings_env), cwd=REPO, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        assert (result.returncode, result.stdout.strip()) == (0, "deactivated doc-two")
        assert client.get("/api/v1/lectures").status_code == 401
        assert sign_in(client, "doc-two", PASSWORD) == 401


def test_signing_out_clears_this_browsers_session(portal: tuple[Litestar, Services]) -> None:
    with TestClient(portal[0]) as client:
        assert sign_in(client, "doc-in", PASSWORD) == 303
        client.post("/logout", data={"_csrf_token": client.cookies["csrftoken"]})
        assert client.get("/api/v1/lectures").status_code == 401


# --- the sign-in back-off -------------------------------------------------------------------


def test_failed_sign_ins_back_off_per_account_and_a_success_starts_afresh(
    portal: tuple[Litestar, Services],
) -> None:
    with TestClient(portal[0]) as client:
        assert [sign_in(client, "doc-in", "wrong-password") for _ in range(3)] == [401] * 3
        client.get("/login")
        refused = client.post(
            "/login",
            data={
                "username": "doc-in",
                "password": PASSWORD,
                "_csrf_token": client.cookies["csrftoken"],
            },
        )
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert "登录失败次数过多，请稍候再试。" in refused.text
        time.sleep(1.1)
        assert sign_in(client, "doc-in", PASSWORD) == 303  # the owner is never locked out
        assert [sign_in(client, "doc-in", "wrong-password") for _ in range(3)] == [401] * 3


def test_a_guessed_account_does_not_lock_out_the_rest_of_the_clinic(
    portal: tuple[Litestar, Services],
) -> None:
    """Everyone in a village clinic shares one address: guessing at one doctor's account does
    not keep the others out."""
    with TestClient(portal[0]) as client:
        codes = [sign_in(client, "doc-in", "wrong-password") for _ in range(8)]
        assert codes[:3] == [401] * 3
        assert set(codes[3:]) == {429}
        assert sign_in(client, "doc-two", PASSWORD) == 303


def test_the_back_off_is_shared_by_every_portal_process(
    make_portal: Callable[..., tuple[Litestar, Services]],
) -> None:
    first, _ = make_portal()
    second, _ = make_portal()
    with TestClient(first) as client:
        assert [sign_in(client, "doc-in", "wrong-password") for _ in range(3)] == [401] * 3
    with TestClient(second) as client:
        assert sign_in(client, "doc-in", PASSWORD) == 429


async def _sign_in_from(app: Litestar, peer: str, forwarded_for: str, username: str) -> int:
    # Litestar's own ASGI types are narrower than the ones httpx declares.
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        await client.get("/login")
        response = await client.post(
            "/login",
            data={
                "username": username,
                "password": "wrong-password",
                "_csrf_token": client.cookies["csrftoken"],
            },
            headers={"x-forwarded-for": forwarded_for},
        )
        return response.status_code


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    make_portal: Callable[..., tuple[Litestar, Services]],
) -> None:
    """Behind the trusted proxy each client address has its own (loose) back-off; a client
    talking to the portal directly cannot escape its own by writing the header."""
    app, _ = make_portal(CLINICAST_WEB__TRUSTED_PROXIES='["10.0.0.0/8"]')

    def attempts(peer: str, forwarded: Callable[[int], str], count: int) -> list[int]:
        # In a thread of its own: the browser tests' session-wide Playwright keeps an event
        # loop running in the main thread, where anyio.run would refuse to start.
        with ThreadPoolExecutor(1) as thread:
            return [
                thread.submit(
                    anyio.run,
                    _sign_in_from,
                    app,
                    peer,
                    forwarded(number),
                    f"nobody-{peer}-{number}",
                ).result()
                for number in range(count)
            ]

    behind_proxy = attempts("10.0.0.7", lambda _: "198.51.100.1, 203.0.113.5", 31)
    assert behind_proxy == [401] * 30 + [429]
    assert attempts("10.0.0.7", lambda _: "203.0.113.6", 1) == [401]  # another clinic
    direct = attempts("192.0.2.50", lambda number: f"203.0.113.{100 + number}", 31)
    assert direct == [401] * 30 + [429]


# --- the language switch --------------------------------------------------------------------


def test_only_a_post_with_the_csrf_token_changes_the_users_language(
    portal: tuple[Litestar, Services],
) -> None:
    app, services = portal
    with TestClient(app) as client:
        assert sign_in(client, "doc-in", PASSWORD) == 303
        assert client.get("/lang/zh-CN").status_code in (404, 405)
        assert client.post("/lang", data={"locale": "zh-CN"}).status_code == 403
        assert user_field(services, "doc-in", "locale") == "en"
        switched = client.post(
            "/lang",
            data={"locale": "zh-CN", "_csrf_token": client.cookies["csrftoken"]},
            headers={"referer": "http://testserver.local/lectures"},
            follow_redirects=False,
        )
        assert (switched.status_code, switched.headers["location"]) == (
            303,
            "http://testserver.local/lectures",
        )
        assert user_field(services, "doc-in", "locale") == "zh-CN"
        assert '<html lang="zh-CN">' in client.get("/").text


# --- what operators' endpoints show ---------------------------------------------------------


def test_metrics_and_readiness_detail_need_the_token_once_one_is_set(
    make_portal: Callable[..., tuple[Litestar, Services]],
) -> None:
    token = "metrics-" + "t" * 32
    app, _ = make_portal(CLINICAST_WEB__METRICS_TOKEN=token)
    scraper = {"authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        for path in ("/metrics", "/metrics/http"):
            assert client.get(path).status_code == 401
            assert client.get(path, headers={"authorization": "Bearer wrong"}).status_code == 401
            assert client.get(path, headers=scraper).status_code == 200
        assert client.get("/readyz").json() == {"ready": False}
        assert set(client.get("/readyz", headers=scraper).json()["checks"]) == {
            "database", "storage", "broker", "workers",
        }  # fmt: skip
        assert sign_in(client, "doc-in", PASSWORD) == 303
        assert "checks" not in client.get("/readyz").json()  # a doctor is not an operator


def test_the_schema_can_be_kept_for_signed_in_users(
    make_portal: Callable[..., tuple[Litestar, Services]],
) -> None:
    app, _ = make_portal(CLINICAST_WEB__PUBLIC_SCHEMA="false")
    with TestClient(app) as client:
        assert client.get("/schema/openapi.json").status_code == 401
        assert sign_in(client, "doc-in", PASSWORD) == 303
        assert "/api/v1/me/tokens" in client.get("/schema/openapi.json").json()["paths"]
