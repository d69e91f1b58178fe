"""POST /oauth/token with grant_type=password: RFC 6749 §4.3, only for first-party clients (RFC 9700 §2.4)."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI

from auth_service.clients.registry import ClientMetadataError
from auth_service.security.secrets import hash_token
from shared.models import AuditEvent, Grant, RefreshToken
from tests.factories import TestClient, TestUser, make_client, make_user
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.lifecycle import password_grant, verified_claims
from tests.support.token_endpoint import refresh

WRONG_CREDENTIALS = "the username or password is not right"
# Distinctive enough that finding it anywhere in a row can only mean the password leaked.
SECRET_PASSWORD = "Pa55word-Never-Logged-7f3c"  # noqa: S105 - test credential
WRONG_PASSWORD = "Wr0ng-Password-Never-Logged-91ab"  # noqa: S105 - test credential


@pytest.fixture
async def first_party_client(db: Database) -> TestClient:
    return await make_client(
        db,
        grant_types=["password", "refresh_token"],
        is_first_party=True,
        scope="profile email read:notes offline_access",
    )


@pytest.fixture
async def user(db: Database) -> TestUser:
    return await make_user(db, password=SECRET_PASSWORD)


def _row_text(event: AuditEvent) -> str:
    return json.dumps(event.model_dump(mode="json"), sort_keys=True)


async def test_token_password_client_without_grant_returns_unauthorized_client(
    auth_client: httpx.AsyncClient, db: Database, confidential_client: TestClient, user: TestUser
) -> None:
    response = await password_grant(
        auth_client, confidential_client, username=user.username, password=user.password
    )

    # Disabled by default (RFC 9700 §2.4): a client registered the usual way cannot use it.
    assert_oauth_error(
        response, "unauthorized_client", description="this client may not use grant_type=password"
    )
    assert await db.count(Grant) == 0


async def test_token_password_registration_without_first_party_is_refused(db: Database) -> None:
    with pytest.raises(ClientMetadataError) as refused:
        await make_client(db, grant_types=["password", "refresh_token"])

    assert refused.value.field == "grant_types"
    assert str(refused.value) == (
        "the password grant is only for first-party clients (RFC 9700 section 2.4)"
    )


async def test_token_password_right_credentials_return_tokens_and_record_grant(
    auth_client: httpx.AsyncClient,
    db: Database,
    first_party_client: TestClient,
    user: TestUser,
    clock: TestClock,
) -> None:
    response = await password_grant(
        auth_client,
        first_party_client,
        username=user.username,
        password=user.password,
        scope="profile read:notes",
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "Bearer",
        900,
        "profile read:notes",
    )
    assert response.headers["cache-control"] == "no-store"  # RFC 6749 §5.1
    (grant,) = await db.all(Grant)
    assert (grant.user_id, grant.client_id, grant.scope, grant.revoked_at) == (
        user.id,
        first_party_client.client_id,
        "profile read:notes",
        None,
    )
    claims = await verified_claims(auth_client, body["access_token"])
    assert (claims["sub"], claims["client_id"], claims["grant_id"]) == (
        user.id,
        first_party_client.client_id,
        grant.id,
    )
    assert claims["auth_time"] == int(grant.auth_time.timestamp())
    row = await db.get(RefreshToken, hash_token(body["refresh_token"]))
    assert row is not None
    assert (row.grant_id, row.client_id, row.scope) == (
        grant.id,
        first_party_client.client_id,
        "profile read:notes",
    )


async def test_token_password_without_scope_returns_every_client_scope(
    auth_client: httpx.AsyncClient, first_party_client: TestClient, user: TestUser
) -> None:
    response = await password_grant(
        auth_client, first_party_client, username=user.username, password=user.password
    )

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "profile email read:notes offline_access"


async def test_token_password_refresh_token_can_be_used(
    auth_client: httpx.AsyncClient, first_party_client: TestClient, user: TestUser
) -> None:
    tokens = (
        await password_grant(
            auth_client, first_party_client, username=user.username, password=user.password
        )
    ).json()

    response = await refresh(auth_client, first_party_client, tokens["refresh_token"])

    assert response.status_code == 200, response.text
    assert response.json()["refresh_token"] != tokens["refresh_token"]


async def test_token_password_client_without_refresh_grant_returns_no_refresh_token(
    auth_client: httpx.AsyncClient, db: Database, user: TestUser
) -> None:
    client = await make_client(db, grant_types=["password"], is_first_party=True)

    response = await password_grant(
        auth_client, client, username=user.username, password=user.password, scope="profile"
    )

    assert response.status_code == 200, response.text
    assert set(response.json()) == {"access_token", "token_type", "expires_in", "scope"}
    assert await db.count(Grant) == 1
    assert await db.count(RefreshToken) == 0


@pytest.mark.parametrize("case", ["wrong_password", "unknown_user"])
async def test_token_password_bad_credentials_return_invalid_grant_with_one_description(
    auth_client: httpx.AsyncClient,
    db: Database,
    first_party_client: TestClient,
    user: TestUser,
    case: str,
) -> None:
    username = user.username if case == "wrong_password" else "nobody-by-this-name"

    response = await password_grant(
        auth_client, first_party_client, username=username, password=WRONG_PASSWORD
    )

    # RFC 6749 §5.2: bad resource owner credentials are invalid_grant; the description is the
    # same either way so it does not tell whether the username exists.
    assert_oauth_error(response, "invalid_grant", description=WRONG_CREDENTIALS)
    assert await db.count(Grant) == 0
    assert await db.count(RefreshToken) == 0


async def test_token_password_bad_credentials_record_login_failed_audit_event(
    auth_client: httpx.AsyncClient, db: Database, first_party_client: TestClient, user: TestUser
) -> None:
    response = await password_grant(
        auth_client, first_party_client, username=user.username, password=WRONG_PASSWORD
    )

    assert response.status_code == 400, response.text
    # The failure must leave a trace although the request fails (style guide §6: commit, raise).
    (event,) = await db.all(AuditEvent)
    assert (event.event, event.client_id, event.user_id, event.details) == (
        "login_failed",
        first_party_client.client_id,
        None,
        {"grant_type": "password"},
    )


@pytest.mark.parametrize("missing", ["username", "password"])
async def test_token_password_missing_credential_returns_invalid_request(
    auth_client: httpx.AsyncClient,
    db: Database,
    first_party_client: TestClient,
    user: TestUser,
    missing: str,
) -> None:
    response = await password_grant(
        auth_client,
        first_party_client,
        username=None if missing == "username" else user.username,
        password=None if missing == "password" else user.password,
    )

    assert_oauth_error(
        response, "invalid_request", description="username and password are required"
    )
    assert await db.count(Grant) == 0


async def test_token_password_scope_beyond_client_returns_invalid_scope(
    auth_client: httpx.AsyncClient, db: Database, first_party_client: TestClient, user: TestUser
) -> None:
    response = await password_grant(
        auth_client,
        first_party_client,
        username=user.username,
        password=user.password,
        scope="profile write:notes",
    )

    assert_oauth_error(
        response,
        "invalid_scope",
        description="scope must be a non-empty subset of the client's scopes",
    )
    assert await db.count(Grant) == 0


async def test_token_password_audit_events_never_hold_the_password(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    first_party_client: TestClient,
    user: TestUser,
) -> None:
    failed = await password_grant(
        auth_client, first_party_client, username=user.username, password=WRONG_PASSWORD
    )
    issued = await password_grant(
        auth_client, first_party_client, username=user.username, password=SECRET_PASSWORD
    )
    assert (failed.status_code, issued.status_code) == (400, 200)

    await auth_app.state.audit_buffer.flush()  # routine events are batched off the request path
    events = await db.all(AuditEvent)

    (issued_event,) = [e for e in events if e.event == "token_issued"]
    (grant,) = await db.all(Grant)
    # Like every grant type's: the family the tokens belong to, for tracing a later revocation.
    assert (issued_event.user_id, issued_event.details) == (
        user.id,
        {"grant_type": "password", "grant_id": grant.id},
    )
    for event in events:  # login_failed too, once it is recorded (see the test above)
        text = _row_text(event)
        for secret in (SECRET_PASSWORD, WRONG_PASSWORD, issued.json()["refresh_token"]):
            assert secret not in text, event
