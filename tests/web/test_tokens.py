"""Personal access tokens through Litestar's test client: created on the account page or the
API and shown once, stored hashed, sent as ``Authorization: Bearer`` without CSRF, with exactly
the authorisation of their user (read-only ones never write), and dead once revoked or once
their user is deactivated."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, NamedTuple

import httpx
import pytest
from sqlmodel import Session

from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.support.web import PASSWORD, ROLES, USERNAMES, Portal, lecture_json, open_portal
from training.accounts.models import ApiToken, Role, TokenScope
from training.accounts.services import AccountService
from training.accounts.tokens import TokenService
from training.base import utcnow


@pytest.fixture(scope="module")
def portal(
    tmp_path_factory: pytest.TempPathFactory, embedded_s3: EmbeddedSeaweedFS
) -> Iterator[Portal]:
    with open_portal(tmp_path_factory.mktemp("tokens"), embedded_s3) as portal:
        owner = portal.callers["owner"]
        lecture = owner.post("/api/v1/lectures", json=lecture_json(portal))
        portal.ids["lecture"] = lecture.json()["id"]
        with portal.services.sessions() as session:
            AccountService(session).create("api-user", PASSWORD, Role.SPECIALIST)
            session.commit()
        yield portal


@pytest.fixture(scope="module")
def role_tokens(portal: Portal) -> dict[tuple[str, TokenScope], str]:
    """A read-only and a read-write token of every signed-in role."""
    return {
        (role, scope): issue(portal, USERNAMES[role], scope, name=f"matrix-{scope.value}")
        for role in ROLES
        if role != "anon"
        for scope in TokenScope
    }


def issue(portal: Portal, username: str, scope: TokenScope, name: str = "script") -> str:
    with portal.services.sessions() as session:
        user = AccountService(session).by_username(username)
        assert user is not None
        secret = TokenService(session).issue(user, name, scope).secret
        session.commit()
    return secret


def bearer(portal: Portal, token: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request with the token and no cookie at all (neither session nor CSRF)."""
    client = portal.callers["anon"].client
    client.cookies.clear()
    headers = {"authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return client.request(method, url, headers=headers, follow_redirects=False, **kwargs)


# --- the same authorisation as the user -----------------------------------------------------

MAY = {
    "signed_in": {"admin", "coordinator", "owner", "other_specialist", "doctor_in", "doctor_out"},
    "schedulers": {"admin", "owner", "other_specialist"},
    "audience": {"admin", "coordinator", "owner", "doctor_in"},
    "editors": {"admin", "owner"},
    "admins": {"admin"},
}


class Call(NamedTuple):
    name: str
    method: str
    url: str
    who: str  # a key of MAY
    allowed: int  # the status for those who may


CALLS = [
    Call("me", "GET", "/api/v1/me", "signed_in", 200),
    Call("library api", "GET", "/api/v1/lectures", "signed_in", 200),
    Call("lecture api", "GET", "/api/v1/lectures/{lecture}", "audience", 200),
    Call("pipeline", "GET", "/api/v1/lectures/{lecture}/pipeline", "editors", 200),
    Call("admin page", "GET", "/admin/users", "admins", 200),
    Call("create lecture", "POST", "/api/v1/lectures", "schedulers", 201),
    Call("begin upload", "POST", "/api/v1/lectures/{lecture}/upload", "editors", 200),
]


@pytest.mark.parametrize("scope", [TokenScope.READ, TokenScope.WRITE])
@pytest.mark.parametrize("role", [role for role in ROLES if role != "anon"])
@pytest.mark.parametrize("call", CALLS, ids=[call.name for call in CALLS])
def test_a_token_has_its_users_authorisation_and_a_read_only_one_never_writes(
    portal: Portal,
    role_tokens: dict[tuple[str, TokenScope], str],
    role: str,
    scope: TokenScope,
    call: Call,
) -> None:
    token = role_tokens[role, scope]
    body: dict[str, Any] = {}
    if call.name == "create lecture":
        body["json"] = lecture_json(portal)
    elif call.name == "begin upload":
        body["json"] = {"filename": "token.mp4", "size": 10}
    response = bearer(portal, token, call.method, call.url.format(**portal.ids), **body)
    if call.method != "GET" and scope is TokenScope.READ:
        expected = 403  # whatever the user may do: this token only reads
    else:
        expected = call.allowed if role in MAY[call.who] else 403
    assert response.status_code == expected, response.text[:300]


def test_a_token_reads_exactly_what_its_users_session_reads(portal: Portal) -> None:
    token = issue(portal, USERNAMES["doctor_out"], TokenScope.READ)
    by_token = bearer(portal, token, "GET", "/api/v1/lectures").json()
    by_session = portal.callers["doctor_out"].get("/api/v1/lectures").json()
    assert [lecture["id"] for lecture in by_token] == [lecture["id"] for lecture in by_session]
    assert portal.ids["lecture"] not in [lecture["id"] for lecture in by_token]
    assert bearer(portal, token, "GET", "/api/v1/me").json()["username"] == "doc-out"


@pytest.mark.parametrize(
    "header",
    ["Bearer clc_00000000_" + "x" * 43, "Bearer not-a-token", "Bearer ", "Basic YWRtaW46eA=="],
)
def test_a_wrong_token_is_a_stranger(portal: Portal, header: str) -> None:
    client = portal.callers["anon"].client
    client.cookies.clear()
    response = client.get("/api/v1/lectures", headers={"authorization": header})
    assert response.status_code == 401
    forged = issue(portal, "admin", TokenScope.WRITE)[:-4] + "AAAA"  # right prefix, wrong secret
    assert bearer(portal, forged, "GET", "/api/v1/me").status_code == 401


def test_a_token_with_a_session_cookie_still_needs_the_csrf_token(portal: Portal) -> None:
    """The CSRF exemption is for cookie-less callers: a browser page that could somehow add the
    header does not get to skip the check for its session."""
    token = issue(portal, USERNAMES["owner"], TokenScope.WRITE)
    owner = portal.callers["owner"]
    headers = {"authorization": f"Bearer {token}"}
    with_cookie = owner.request(
        "POST", "/api/v1/lectures", json=lecture_json(portal), headers=headers
    )
    assert with_cookie.status_code == 403
    assert "CSRF" in with_cookie.text
    without = bearer(portal, token, "POST", "/api/v1/lectures", json=lecture_json(portal))
    assert without.status_code == 201


# --- the lifecycle of a token ---------------------------------------------------------------


def test_account_page_shows_a_new_token_once_and_stores_only_its_hash(portal: Portal) -> None:
    doctor = portal.callers["doctor_in"]
    page = doctor.post("/account/tokens", data={"name": "区域平台", "scope": "read"})
    assert page.status_code == 200
    secret = page.text.split('<code class="secret">', 1)[1].split("</code>", 1)[0]
    assert secret.startswith("clc_")
    assert bearer(portal, secret, "GET", "/api/v1/me").json()["username"] == "village-doctor"
    again = doctor.get("/account")
    assert "区域平台" in again.text
    assert secret not in again.text
    with portal.services.sessions() as session:
        stored = TokenService(session).of(_id(portal, "village-doctor"))
        assert secret not in {token.token_hash for token in stored}
        assert all(secret[4:12] == token.prefix for token in stored if token.name == "区域平台")
    empty = doctor.post("/account/tokens", data={"name": " ", "scope": "write"})
    assert empty.status_code == 400
    assert "token name" in empty.text


def test_the_api_creates_lists_and_revokes_tokens_and_a_revoked_token_stops_at_once(
    portal: Portal,
) -> None:
    bootstrap = issue(portal, "api-user", TokenScope.WRITE, name="bootstrap")
    created = bearer(
        portal, bootstrap, "POST", "/api/v1/me/tokens", json={"name": "ci", "scope": "read"}
    )
    assert created.status_code == 201
    new = created.json()
    assert (new["name"], new["scope"], new["last_used_at"]) == ("ci", "read", None)
    assert bearer(portal, new["token"], "GET", "/api/v1/me").status_code == 200
    listed = bearer(portal, new["token"], "GET", "/api/v1/me/tokens").json()
    assert {token["name"] for token in listed} == {"bootstrap", "ci"}
    assert all("token" not in token and "token_hash" not in token for token in listed)
    # A read-only token cannot revoke (a write), nor mint a stronger token for itself.
    assert (
        bearer(portal, new["token"], "DELETE", f"/api/v1/me/tokens/{new['id']}").status_code == 403
    )
    minted = bearer(
        portal, new["token"], "POST", "/api/v1/me/tokens", json={"name": "x", "scope": "write"}
    )
    assert minted.status_code == 403
    bad_scope = bearer(
        portal, bootstrap, "POST", "/api/v1/me/tokens", json={"name": "x", "scope": "root"}
    )
    assert bad_scope.status_code == 400
    assert bearer(portal, bootstrap, "DELETE", f"/api/v1/me/tokens/{new['id']}").status_code == 204
    assert bearer(portal, new["token"], "GET", "/api/v1/me").status_code == 401
    assert bearer(portal, bootstrap, "DELETE", f"/api/v1/me/tokens/{new['id']}").status_code == 404


def test_nobody_revokes_or_sees_another_users_token(portal: Portal) -> None:
    victim = issue(portal, USERNAMES["doctor_out"], TokenScope.READ, name="victim")
    with portal.services.sessions() as session:
        victim_id = TokenService(session).of(_id(portal, "doc-out"))[0].id
    admin = portal.callers["admin"]
    assert (
        admin.post(f"/account/tokens/{victim_id}/revoke", follow_redirects=False).status_code == 404
    )
    other = issue(portal, "admin", TokenScope.WRITE)
    assert bearer(portal, other, "DELETE", f"/api/v1/me/tokens/{victim_id}").status_code == 404
    assert bearer(portal, other, "DELETE", f"/api/v1/me/tokens/{2**70}").status_code in (400, 404)
    assert "victim" not in admin.get("/account").text
    assert bearer(portal, victim, "GET", "/api/v1/me").status_code == 200  # still alive


def test_a_deactivated_users_tokens_stop_working_and_come_back_with_the_account(
    portal: Portal,
) -> None:
    token = issue(portal, "specialist-2", TokenScope.READ, name="to-deactivate")
    assert bearer(portal, token, "GET", "/api/v1/me").status_code == 200
    user_id = _id(portal, "specialist-2")
    with portal.services.sessions() as session:
        AccountService(session).set_active(user_id, False)
        session.commit()
    try:
        assert bearer(portal, token, "GET", "/api/v1/me").status_code == 401
        assert bearer(portal, token, "GET", "/api/v1/lectures").status_code == 401
    finally:
        with portal.services.sessions() as session:
            AccountService(session).set_active(user_id, True)
            session.commit()
    assert bearer(portal, token, "GET", "/api/v1/me").status_code == 200


def test_last_use_is_recorded_at_most_once_a_minute(portal: Portal) -> None:
    token = issue(portal, "admin", TokenScope.READ, name="busy")
    start = utcnow()
    with portal.services.sessions() as session:
        tokens = TokenService(session)
        found = tokens.authenticate(token, now=start)
        assert found is not None
        first = found[1].last_used_at
        assert first == start
        again = tokens.authenticate(token, now=start + timedelta(seconds=30))
        assert again is not None
        assert _stored(session, again[1].id).last_used_at == start  # no write within the minute
        later = tokens.authenticate(token, now=start + timedelta(seconds=61))
        assert later is not None
        assert _stored(session, later[1].id).last_used_at == start + timedelta(seconds=61)
    bearer(portal, token, "GET", "/api/v1/me")
    listed = bearer(portal, token, "GET", "/api/v1/me/tokens").json()
    used = next(item for item in listed if item["name"] == "busy")["last_used_at"]
    assert used is not None


def _stored(session: Session, token_id: int | None) -> ApiToken:
    session.expire_all()
    token = session.get(ApiToken, token_id)
    assert token is not None
    return token


def _id(portal: Portal, username: str) -> int:
    with portal.services.sessions() as session:
        user = AccountService(session).by_username(username)
        assert user is not None
        assert user.id is not None
        return user.id
