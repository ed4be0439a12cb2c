"""Schemathesis over every ``/api/v1`` operation of the portal's own OpenAPI document, as each
role with a read-write API token: generated requests (valid and invalid) never get a 5xx.

Bounded to stay short (a few examples per operation): it guards "bad input is a clear 4xx"
across the whole API. The full contract check (every check, the stateful phase) belongs to
the API-contract work (issue 12)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.schemas import OpenApiSchema

from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.support.services import free_port
from tests.support.web import USERNAMES, Portal, open_portal
from training.accounts.models import TokenScope
from training.accounts.services import AccountService
from training.accounts.tokens import TokenService

ROLES = ("admin", "coordinator", "owner", "doctor_in")
# Litestar under uvicorn drops an anyio memory stream unclosed on some aborted requests (a
# ResourceWarning at garbage collection, in the framework, not a response of ours).
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(scope="module")
def portal(
    tmp_path_factory: pytest.TempPathFactory, embedded_s3: EmbeddedSeaweedFS
) -> Iterator[Portal]:
    with open_portal(tmp_path_factory.mktemp("api-fuzz"), embedded_s3) as portal:
        yield portal


@pytest.fixture(scope="module")
def base_url(portal: Portal) -> Iterator[str]:
    """The portal served over real HTTP by uvicorn in a thread (schemathesis's in-process ASGI
    client leaves anyio streams unclosed)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(portal.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def tokens(portal: Portal) -> dict[str, str]:
    issued = {}
    with portal.services.sessions() as session:
        accounts, service = AccountService(session), TokenService(session)
        for role in ROLES:
            user = accounts.by_username(USERNAMES[role])
            assert user is not None
            issued[role] = service.issue(user, "schemathesis", TokenScope.WRITE).secret
        session.commit()
    return issued


def api_schema(portal: Portal) -> OpenApiSchema:
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", portal.app)
    return schema.include(path_regex=r"^/api/v1/")


@pytest.mark.parametrize("role", ROLES)
def test_no_request_to_the_api_gets_a_server_error(
    portal: Portal, base_url: str, tokens: dict[str, str], role: str
) -> None:
    schema = api_schema(portal)
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    failures: list[str] = []
    operations = 0
    http = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=6,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, session=http)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:300]}"
                )

        run()
    http.close()
    assert operations >= 20, "the API's operations are all in the schema"
    assert not failures, "\n".join(sorted(set(failures)))


def test_the_schema_names_every_api_path(portal: Portal) -> None:
    paths = {result.ok().path for result in api_schema(portal).get_all_operations()}
    assert "/api/v1/attendance/heartbeats" in paths
    assert "/api/v1/me/tokens" in paths
    assert any(path.startswith("/api/v1/lectures/") for path in paths)
