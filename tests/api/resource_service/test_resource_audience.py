"""A token the auth service issued for another resource server (RFC 8707) is refused by the
notes API, which accepts only its own identifier as `aud` (RFC 9068 §4)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import AUDIENCE
from tests.factories import TestClient, TestUser, make_client, make_resource_server
from tests.support.db import Database
from tests.support.flows import authorize, exchange_code
from tests.support.lifecycle import bearer, challenge_params
from tests.support.pages import assert_client_code
from tests.support.resources import ResourceRequest

OTHER = "https://calendar.example"


@pytest.fixture
async def registry(db: Database) -> None:
    await make_resource_server(db, AUDIENCE, scopes=("read:notes", "write:notes", "profile"))
    await make_resource_server(db, OTHER, scopes=("read:notes",))


async def token_for(
    auth: httpx.AsyncClient, client: TestClient, user: TestUser, resource: str
) -> str:
    request = ResourceRequest(client, scope="openid read:notes", resources=[resource])
    code = assert_client_code(
        await authorize(auth, request, user), client.redirect_uri, state=request.state
    )
    response = await exchange_code(auth, request, code)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_notes_api_refuses_a_token_for_another_resource_with_401_invalid_token(
    db: Database,
    auth_client: httpx.AsyncClient,
    resource_client: httpx.AsyncClient,
    user: TestUser,
    registry: None,
) -> None:
    client = await make_client(db)
    token = await token_for(auth_client, client, user, OTHER)

    response = await resource_client.get("/api/v1/notes", headers=bearer(token))

    assert response.status_code == 401, response.text
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "token is not meant for this audience",
    }
    challenge = challenge_params(response.headers["www-authenticate"])
    assert challenge["error"] == "invalid_token"
    assert challenge["error_description"] == "token is not meant for this audience"


async def test_notes_api_accepts_a_token_for_its_own_identifier(
    db: Database,
    auth_client: httpx.AsyncClient,
    resource_client: httpx.AsyncClient,
    user: TestUser,
    registry: None,
) -> None:
    client = await make_client(db)
    token = await token_for(auth_client, client, user, AUDIENCE)

    response = await resource_client.get("/api/v1/notes", headers=bearer(token))

    assert response.status_code == 200, response.text
