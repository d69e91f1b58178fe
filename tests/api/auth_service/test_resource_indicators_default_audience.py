"""Tokens requested without any `resource` (RFC 8707 §2) are for the default audience; when the
default audience is a registered resource server it is treated like a named one, while the
OIDC scopes stay for /oauth/userinfo (OIDC Core §5.3)."""

from __future__ import annotations

import httpx
import pytest

from shared.models import AuditEvent, AuthorizationCode
from tests.conftest import AUDIENCE
from tests.factories import REDIRECT_URI, TestClient, TestUser, make_client, make_resource_server
from tests.support.assertions import assert_oauth_error
from tests.support.db import Database
from tests.support.flows import authorize
from tests.support.lifecycle import bearer, snapshot, verified_claims
from tests.support.pages import assert_client_code
from tests.support.resources import ResourceRequest

NOTES = "https://notes.example/api"
SCOPE = "openid profile read:notes write:notes offline_access"


@pytest.fixture
async def default_registered(db: Database) -> None:
    """The default audience registered as serving only reading notes."""
    await make_resource_server(db, AUDIENCE, scopes=("read:notes",))
    await make_resource_server(db, NOTES, scopes=("read:notes", "write:notes"))


async def test_default_audience_registered_code_token_is_narrowed_and_userinfo_works(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    default_registered: None,
) -> None:
    request = ResourceRequest(confidential_client, scope=SCOPE, resources=[])
    code = assert_client_code(
        await authorize(auth_client, request, user), REDIRECT_URI, state=request.state
    )

    response = await auth_client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": request.verifier,
        },
        auth=confidential_client.basic_auth(),
    )

    assert response.status_code == 200, response.text
    body = response.json()
    # write:notes is not served by the default audience; the OIDC scopes stay for userinfo.
    assert body["scope"] == "openid profile read:notes"
    claims = await verified_claims(auth_client, body["access_token"])
    assert (claims["aud"], claims["scope"]) == (AUDIENCE, "openid profile read:notes")
    assert "id_token" in body
    userinfo = await auth_client.get("/oauth/userinfo", headers=bearer(body["access_token"]))
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json()["preferred_username"] == user.username


async def test_default_audience_registered_client_credentials_narrowed(
    auth_client: httpx.AsyncClient, db: Database, default_registered: None
) -> None:
    client = await make_client(
        db, grant_types=["client_credentials"], scope="read:notes write:notes"
    )

    response = await auth_client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=client.basic_auth()
    )

    assert response.status_code == 200, response.text
    claims = await verified_claims(auth_client, response.json()["access_token"])
    assert (claims["aud"], claims["scope"]) == (AUDIENCE, "read:notes")


async def test_default_audience_registered_not_allowed_for_the_client_is_invalid_target(
    auth_client: httpx.AsyncClient, db: Database, default_registered: None
) -> None:
    client = await make_client(
        db, grant_types=["client_credentials"], scope="read:notes", resources=[NOTES]
    )
    before = await snapshot(db)

    response = await auth_client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=client.basic_auth()
    )

    assert_oauth_error(
        response,
        "invalid_target",
        description="this client may not ask for tokens for the resource",
    )
    assert response.headers["cache-control"] == "no-store"
    assert await snapshot(db) == before
    assert await db.count(AuditEvent, AuditEvent.event == "token_issued") == 0


async def test_default_audience_registered_serving_none_of_the_scopes_is_invalid_scope(
    auth_client: httpx.AsyncClient, db: Database, default_registered: None
) -> None:
    client = await make_client(db, grant_types=["client_credentials"], scope="write:notes")
    before = await snapshot(db)

    response = await auth_client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=client.basic_auth()
    )

    assert_oauth_error(
        response,
        "invalid_scope",
        description="none of the scopes is served by the requested resource",
    )
    assert await snapshot(db) == before


async def test_default_audience_unregistered_limited_client_code_is_refused_and_unused(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await make_resource_server(db, NOTES, scopes=("read:notes",))
    client = await make_client(db, resources=[NOTES])
    request = ResourceRequest(client, scope="openid read:notes", resources=[])
    code = assert_client_code(
        await authorize(auth_client, request, user), REDIRECT_URI, state=request.state
    )
    before = await snapshot(db)

    response = await auth_client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": request.verifier,
        },
        auth=client.basic_auth(),
    )

    assert_oauth_error(
        response,
        "invalid_target",
        description="this client may only ask for tokens for its resources",
    )
    assert await snapshot(db) == before
    (stored,) = await db.all(AuthorizationCode)
    assert stored.used_at is None
