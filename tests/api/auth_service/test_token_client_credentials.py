"""POST /oauth/token with grant_type=client_credentials: RFC 6749 §4.4, access tokens per RFC 9068."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, update

from auth_service.clients.registry import ClientKeys
from shared.models import AuditEvent, Client, Grant, RefreshToken
from tests.conftest import AUDIENCE, ISSUER
from tests.factories import TestClient, make_client
from tests.support.assertions import assert_oauth_error
from tests.support.assertions_jwt import (
    assertion_claims,
    assertion_form,
    jwks_of,
    new_client_key,
    sign_assertion,
)
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.lifecycle import client_credentials, token_header, verified_claims
from tests.support.token_endpoint import ClientAuth

DEFAULT_ACCESS_TOKEN_TTL = 900  # AuthSettings.access_token_ttl default
ALL_SCOPES = "openid profile email read:notes write:notes offline_access"


@pytest.fixture
async def service_client(db: Database) -> TestClient:
    """A confidential client allowed client_credentials and every scope, user-only ones included."""
    return await make_client(db, grant_types=["client_credentials"], scope=ALL_SCOPES)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_token_client_credentials_confidential_client_returns_access_token_only(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    service_client: TestClient,
    clock: TestClock,
    method: ClientAuth,
) -> None:
    before = int(clock().timestamp())

    response = await client_credentials(
        auth_client, service_client, scope="read:notes", method=method
    )

    assert response.status_code == 200, response.text
    body = response.json()
    # RFC 6749 §4.4.3: no refresh token; no user, so no ID token either.
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "Bearer",
        DEFAULT_ACCESS_TOKEN_TTL,
        "read:notes",
    )
    assert response.headers["cache-control"] == "no-store"  # RFC 6749 §5.1
    assert response.headers["pragma"] == "no-cache"
    assert token_header(body["access_token"])["typ"] == "at+jwt"
    claims = await verified_claims(auth_client, body["access_token"])
    # RFC 9068 §2.2: with no resource owner, sub is the client's own identifier.
    assert set(claims) == {"iss", "sub", "aud", "client_id", "scope", "iat", "exp", "jti"}
    assert claims["sub"] == claims["client_id"] == service_client.client_id
    assert (claims["iss"], claims["aud"], claims["scope"]) == (ISSUER, AUDIENCE, "read:notes")
    assert before <= claims["iat"] <= int(clock().timestamp())
    assert claims["exp"] - claims["iat"] == DEFAULT_ACCESS_TOKEN_TTL
    assert await db.count(Grant) == 0
    assert await db.count(RefreshToken) == 0
    # Routine events are batched off the request path (auth_service/audit.py AuditBuffer).
    await auth_app.state.audit_buffer.flush()
    (event,) = await db.all(AuditEvent, AuditEvent.event == "token_issued")
    assert (event.client_id, event.user_id) == (service_client.client_id, None)
    assert event.details == {"grant_type": "client_credentials"}


async def test_token_client_credentials_several_scopes_returns_them_in_canonical_order(
    auth_client: httpx.AsyncClient, service_client: TestClient
) -> None:
    response = await client_credentials(auth_client, service_client, scope="write:notes read:notes")

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read:notes write:notes"


async def test_token_client_credentials_without_scope_returns_client_scopes_that_need_no_user(
    auth_client: httpx.AsyncClient, service_client: TestClient
) -> None:
    response = await client_credentials(auth_client, service_client)

    # RFC 6749 §3.3 default scope, minus what only means something for a user (RFC 6749 §4.4).
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read:notes write:notes"
    claims = await verified_claims(auth_client, response.json()["access_token"])
    assert claims["scope"] == "read:notes write:notes"


@pytest.mark.parametrize("scope", ["openid", "profile", "email", "offline_access"])
async def test_token_client_credentials_user_scope_returns_invalid_scope(
    auth_client: httpx.AsyncClient, db: Database, service_client: TestClient, scope: str
) -> None:
    response = await client_credentials(auth_client, service_client, scope=f"read:notes {scope}")

    # RFC 6749 §4.4: the client acts on its own behalf, so no user to identify (OIDC Core §3.1.2.1)
    # or to release claims about; shared/scopes.py must mark these requires_user.
    assert_oauth_error(
        response,
        "invalid_scope",
        description=f"scope {scope} needs a user; not for client_credentials",
    )
    assert await db.count(AuditEvent, AuditEvent.event == "token_issued") == 0


async def test_token_client_credentials_without_scope_and_only_user_scopes_returns_invalid_scope(
    auth_client: httpx.AsyncClient, db: Database
) -> None:
    client = await make_client(db, grant_types=["client_credentials"], scope="openid profile")

    response = await client_credentials(auth_client, client)

    assert_oauth_error(
        response,
        "invalid_scope",
        description="no scope was requested and the client has no default scope",
    )


@pytest.mark.parametrize("scope", ["write:notes", "admin"])
async def test_token_client_credentials_scope_outside_client_scopes_returns_invalid_scope(
    auth_client: httpx.AsyncClient, db: Database, scope: str
) -> None:
    client = await make_client(db, grant_types=["client_credentials"], scope="read:notes")

    response = await client_credentials(auth_client, client, scope=f"read:notes {scope}")

    assert_oauth_error(
        response, "invalid_scope", description=f"scope not allowed for this client: {scope}"
    )


async def test_token_client_credentials_client_without_grant_returns_unauthorized_client(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    response = await client_credentials(auth_client, confidential_client, scope="read:notes")

    assert_oauth_error(
        response,
        "unauthorized_client",
        description="this client may not use grant_type=client_credentials",
    )


async def test_token_client_credentials_public_client_returns_unauthorized_client(
    auth_client: httpx.AsyncClient, public_client: TestClient
) -> None:
    response = await client_credentials(auth_client, public_client, scope="read:notes")

    assert_oauth_error(
        response,
        "unauthorized_client",
        description="this client may not use grant_type=client_credentials",
    )


async def test_token_client_credentials_public_client_row_with_grant_returns_unauthorized_client(
    auth_client: httpx.AsyncClient, db: Database, public_client: TestClient
) -> None:
    # Registration refuses this combination; a row edited by hand must still not get a token.
    async with db.sessionmaker() as session:
        await session.exec(
            update(Client)
            .where(col(Client.client_id) == public_client.client_id)
            .values(grant_types=["client_credentials"])
        )
        await session.commit()

    response = await client_credentials(auth_client, public_client, scope="read:notes")

    # RFC 6749 §4.4: the client credentials grant must only be used by confidential clients.
    assert_oauth_error(
        response,
        "unauthorized_client",
        description="client_credentials is only for confidential clients",
    )
    assert await db.count(AuditEvent, AuditEvent.event == "token_issued") == 0


async def test_token_client_credentials_wrong_secret_returns_invalid_client_with_challenge(
    auth_client: httpx.AsyncClient, service_client: TestClient
) -> None:
    response = await auth_client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read:notes"},
        auth=(service_client.client_id, "not-the-secret"),
    )

    # RFC 6749 §5.2: 401 with a challenge for the scheme the client used.
    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication failed"
    )
    assert response.headers["www-authenticate"] == 'Basic realm="oauth", charset="UTF-8"'


async def test_token_client_credentials_client_access_token_ttl_sets_expires_in_and_exp(
    auth_client: httpx.AsyncClient, db: Database
) -> None:
    client = await make_client(
        db, grant_types=["client_credentials"], scope="read:notes", access_token_ttl=120
    )

    response = await client_credentials(auth_client, client)

    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == 120
    claims = await verified_claims(auth_client, response.json()["access_token"])
    assert claims["exp"] - claims["iat"] == 120


@pytest.mark.parametrize("method", ["client_secret_basic", "private_key_jwt"])
async def test_token_client_credentials_served_from_memory_opens_no_session(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, method: str
) -> None:
    """With the client cached, a client_credentials request needs no database session, even
    with an assertion whose jti goes to the batch writer (security.jti_batch): making one it
    never uses cost as much as a tenth of the request (README "Performance")."""
    key = new_client_key("ES256")
    keys = {
        "token_endpoint_auth_method": "private_key_jwt",
        "keys": ClientKeys(jwks=jwks_of(key)),
    }
    client = await make_client(
        db,
        grant_types=["client_credentials"],
        scope="read:notes",
        **(keys if method == "private_key_jwt" else {}),
    )

    async def request() -> httpx.Response:
        if method == "client_secret_basic":
            return await client_credentials(auth_client, client, scope="read:notes")
        claims = assertion_claims(client.client_id)
        form = assertion_form(sign_assertion(key, claims), grant_type="client_credentials")
        return await auth_client.post("/oauth/token", data=form)

    assert (await request()).status_code == 200  # the client is now cached
    opened: list[object] = []
    real = auth_app.state.sessionmaker

    def counting(*args: object, **kwargs: object) -> object:
        opened.append(args)
        return real(*args, **kwargs)

    auth_app.state.sessionmaker = counting
    try:
        response = await request()
    finally:
        auth_app.state.sessionmaker = real

    assert response.status_code == 200, response.text
    assert opened == []
