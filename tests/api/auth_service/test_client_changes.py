"""A change to a client is honoured by the very next token request of the same instance.

The token endpoint authenticates clients from an in-process cache (`client_cache`); every path
that changes a client (portal, RFC 7592 management, secret rotation, deletion) must make that
instance forget it once the change commits. The cache here keeps entries for an hour, so only
that invalidation, never expiry, can let a test see the change.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.clients.cache import ClientCache
from auth_service.clients.registry import ClientChanges, update_client
from auth_service.config import AuthSettings
from auth_service.repositories import Repositories
from tests.factories import TestClient, TestUser, make_user
from tests.support.assertions import assert_oauth_error
from tests.support.db import Database
from tests.support.lifecycle import bearer, client_credentials
from tests.support.pages import sign_in
from tests.support.portal import app_form, as_test_client, credentials_from, register_app, submit

INITIAL_TOKEN = "initial-access-token-for-tests-0123456789"  # noqa: S105 - test credential
BASIC_CHALLENGE = 'Basic realm="oauth", charset="UTF-8"'


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    return settings.model_copy(update={"registration_initial_access_token": INITIAL_TOKEN})


@pytest.fixture
def auth_client(auth_app: FastAPI, auth_client: httpx.AsyncClient) -> httpx.AsyncClient:
    auth_app.state.client_cache = ClientCache(ttl=3600)
    return auth_client


@pytest.fixture
async def developer(db: Database, auth_client: httpx.AsyncClient) -> TestUser:
    user = await make_user(db, username="dev")
    await sign_in(auth_client, user)
    return user


async def portal_app(db: Database, auth: httpx.AsyncClient) -> TestClient:
    """A confidential portal app that an operator also allowed client_credentials."""
    client_id, secret = credentials_from(await register_app(auth))

    async def allow(repos: Repositories) -> None:
        row = await repos.clients.get_by_client_id(client_id)
        assert row is not None
        changes = ClientChanges(grant_types=[*row.grant_types, "client_credentials"])
        await update_client(repos, row, changes, now=row.updated_at)

    await db.run(allow)
    return await as_test_client(db, client_id, secret)


async def dynamic_app(auth: httpx.AsyncClient) -> dict[str, Any]:
    metadata = {
        "client_name": "Machine",
        "grant_types": ["client_credentials"],
        "scope": "read:notes",
    }
    response = await auth.post("/oauth/register", json=metadata, headers=bearer(INITIAL_TOKEN))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def management_path(body: dict[str, Any]) -> str:
    return f"/oauth/register/{body['client_id']}"


async def token_for(
    auth: httpx.AsyncClient, client_id: str, secret: str | None, scope: str = "read:notes"
) -> httpx.Response:
    data = {"grant_type": "client_credentials", "scope": scope}
    return await auth.post("/oauth/token", data=data, auth=(client_id, secret or ""))


def assert_token_issued(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read:notes"


def assert_client_refused(response: httpx.Response) -> None:
    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication failed"
    )
    assert response.headers["www-authenticate"] == BASIC_CHALLENGE


async def test_client_changes_portal_edit_is_honoured_by_the_next_token_request(
    db: Database, auth_client: httpx.AsyncClient, developer: TestUser
) -> None:
    client = await portal_app(db, auth_client)
    assert_token_issued(await client_credentials(auth_client, client, scope="read:notes"))
    path = f"/developers/apps/{client.client_id}"

    saved = await submit(auth_client, path, path, app_form(**{"scope-read:notes": None}))

    assert saved.status_code == 303, saved.text
    assert_oauth_error(
        await client_credentials(auth_client, client, scope="read:notes"),
        "invalid_scope",
        description="scope not allowed for this client: read:notes",
    )


async def test_client_changes_portal_secret_rotation_is_honoured_by_the_next_token_request(
    db: Database, auth_client: httpx.AsyncClient, developer: TestUser
) -> None:
    client = await portal_app(db, auth_client)
    assert_token_issued(await client_credentials(auth_client, client, scope="read:notes"))
    path = f"/developers/apps/{client.client_id}"

    rotated = await submit(auth_client, path, f"{path}/rotate-secret", {})

    client_id, new_secret = credentials_from(rotated)
    assert_client_refused(await token_for(auth_client, client_id, client.secret))
    assert_token_issued(await token_for(auth_client, client_id, new_secret))


async def test_client_changes_portal_delete_is_honoured_by_the_next_token_request(
    db: Database, auth_client: httpx.AsyncClient, developer: TestUser
) -> None:
    client = await portal_app(db, auth_client)
    assert_token_issued(await client_credentials(auth_client, client, scope="read:notes"))
    path = f"/developers/apps/{client.client_id}"

    deleted = await submit(auth_client, path, f"{path}/delete", {})

    assert deleted.status_code == 303, deleted.text
    assert_client_refused(await client_credentials(auth_client, client, scope="read:notes"))


async def test_client_changes_registration_update_is_honoured_by_the_next_token_request(
    auth_client: httpx.AsyncClient,
) -> None:
    body = await dynamic_app(auth_client)
    assert_token_issued(await token_for(auth_client, body["client_id"], body["client_secret"]))
    replacement = {
        "client_id": body["client_id"],
        "client_name": "Machine",
        "grant_types": ["client_credentials"],
        "scope": "write:notes",
    }

    updated = await auth_client.put(
        management_path(body), json=replacement, headers=bearer(body["registration_access_token"])
    )

    assert updated.status_code == 200, updated.text
    assert_oauth_error(
        await token_for(auth_client, body["client_id"], body["client_secret"]),
        "invalid_scope",
        description="scope not allowed for this client: read:notes",
    )


async def test_client_changes_registration_delete_is_honoured_by_the_next_token_request(
    auth_client: httpx.AsyncClient,
) -> None:
    body = await dynamic_app(auth_client)
    assert_token_issued(await token_for(auth_client, body["client_id"], body["client_secret"]))

    deleted = await auth_client.delete(
        management_path(body), headers=bearer(body["registration_access_token"])
    )

    assert deleted.status_code == 204, deleted.text
    assert_client_refused(await token_for(auth_client, body["client_id"], body["client_secret"]))
