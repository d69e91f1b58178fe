"""POST /oauth/revoke (RFC 7009) and GET /oauth/revocations, the feed resource servers follow."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.clients.registry import ClientChanges, update_client
from auth_service.repositories import Repositories
from auth_service.security.secrets import hash_token
from resource_service.config import ResourceSettings
from shared.models import RefreshToken, RevocationEvent
from tests.factories import TestClient, TestUser, make_client
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, tokens_for
from tests.support.lifecycle import (
    bearer,
    challenge_params,
    only_grant,
    revoke,
    snapshot,
    verified_claims,
)
from tests.support.token_endpoint import refresh

ACCESS_TOKEN_TTL = 900  # AuthSettings.access_token_ttl default
DENY_MARGIN = 360  # auth_service.oauth.revocation.DENY_MARGIN: the largest leeway (300) + 60


@pytest.fixture
async def other_client(db: Database) -> TestClient:
    return await make_client(db)


def assert_revoke_ok(response: httpx.Response) -> None:
    # RFC 7009 §2.2: 200 and no content, whether or not there was anything to revoke.
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"


async def test_revoke_without_client_authentication_returns_invalid_client(
    auth_client: httpx.AsyncClient, db: Database, tokens: dict[str, Any]
) -> None:
    before = await snapshot(db)

    response = await auth_client.post("/oauth/revoke", data={"token": tokens["refresh_token"]})

    # RFC 7009 §2.1: the endpoint authenticates the client first (RFC 6749 §2.3).
    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication is required"
    )
    assert await snapshot(db) == before


async def test_revoke_wrong_client_secret_returns_invalid_client_with_challenge(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    before = await snapshot(db)

    response = await auth_client.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"]},
        auth=(confidential_client.client_id, "not-the-secret"),
    )

    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication failed"
    )
    assert response.headers["www-authenticate"] == 'Basic realm="oauth", charset="UTF-8"'
    assert await snapshot(db) == before


async def test_revoke_public_client_with_client_id_revokes_its_refresh_token(
    auth_client: httpx.AsyncClient, db: Database, public_client: TestClient, user: TestUser
) -> None:
    issued = await tokens_for(auth_client, AuthorizationRequest(public_client), user)

    response = await revoke(auth_client, public_client, issued["refresh_token"])

    assert_revoke_ok(response)
    assert (await only_grant(db, public_client)).revoked_at is not None


async def test_revoke_missing_token_returns_invalid_request(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    response = await auth_client.post(
        "/oauth/revoke",
        data={"token_type_hint": "refresh_token"},
        auth=confidential_client.basic_auth(),
    )

    assert_oauth_error(response, "invalid_request", description="token is required")


async def test_revoke_refresh_token_revokes_its_whole_family(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    rotated = (await refresh(auth_client, confidential_client, tokens["refresh_token"])).json()

    response = await revoke(auth_client, confidential_client, rotated["refresh_token"])

    assert_revoke_ok(response)
    grant = await only_grant(db, confidential_client)
    assert grant.revoked_at is not None
    rows = await db.all(RefreshToken, RefreshToken.grant_id == grant.id)
    assert len(rows) == 2
    assert all(row.revoked_at == grant.revoked_at for row in rows)
    # RFC 7009 §2.1: the access tokens of the grant go too, published as one grant event.
    (event,) = await db.all(RevocationEvent)
    assert (event.kind, event.value, event.created_at) == ("grant", grant.id, grant.revoked_at)
    # Remembered until the family's last access token has expired, plus the verifiers' leeway.
    assert grant.access_expires_at is not None
    assert event.expires_at == grant.access_expires_at + timedelta(seconds=DENY_MARGIN)
    again = await refresh(auth_client, confidential_client, rotated["refresh_token"])
    assert_oauth_error(again, "invalid_grant", description="refresh token was revoked")


async def test_revoke_access_token_just_past_exp_is_still_published(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    clock: TestClock,
) -> None:
    """A resource server with the largest leeway (300 s) still accepts it, so it must be denied."""
    claims = await verified_claims(auth_client, tokens["access_token"])
    clock.advance(claims["exp"] - clock().timestamp() + 200)

    assert_revoke_ok(await revoke(auth_client, confidential_client, tokens["access_token"]))

    (event,) = await db.all(RevocationEvent)
    assert (event.kind, event.value) == ("token", claims["jti"])
    assert event.expires_at > clock() + timedelta(seconds=100)


async def test_revoke_access_token_publishes_token_event_outliving_exp(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    claims = await verified_claims(auth_client, tokens["access_token"])

    response = await revoke(auth_client, confidential_client, tokens["access_token"])

    assert_revoke_ok(response)
    (event,) = await db.all(RevocationEvent)
    assert (event.kind, event.value) == ("token", claims["jti"])
    exp = datetime.fromtimestamp(claims["exp"], UTC)
    assert event.expires_at > exp
    assert event.expires_at == exp + timedelta(seconds=DENY_MARGIN)
    # Only the access token: its grant and refresh token stay usable.
    assert (await only_grant(db, confidential_client)).revoked_at is None
    row = await db.get(RefreshToken, hash_token(tokens["refresh_token"]))
    assert row is not None and row.revoked_at is None


async def test_revoke_refresh_token_after_ttl_lowered_still_outlives_issued_access_token(
    auth_client: httpx.AsyncClient, db: Database, user: TestUser
) -> None:
    client = await make_client(db, access_token_ttl=3600)
    issued = await tokens_for(auth_client, AuthorizationRequest(client), user)
    exp = datetime.fromtimestamp(
        (await verified_claims(auth_client, issued["access_token"]))["exp"], UTC
    )
    await db.run(lambda repos: _lower_access_token_ttl(repos, client.client_id, seconds=60))

    assert_revoke_ok(await revoke(auth_client, client, issued["refresh_token"]))

    # RFC 7009 §2.1: revoking the refresh token invalidates the grant's access tokens, so the
    # published deny entry must last as long as the longest-lived of them, not the new TTL.
    (event,) = await db.all(RevocationEvent, RevocationEvent.kind == "grant")
    assert event.expires_at > exp


async def _lower_access_token_ttl(repos: Repositories, client_id: str, *, seconds: int) -> None:
    row = await repos.clients.get_by_client_id(client_id)
    assert row is not None
    await update_client(repos, row, ClientChanges(access_token_ttl=seconds), now=datetime.now(UTC))


@pytest.mark.parametrize(
    "which",
    [
        "unknown_refresh_token",
        "garbage",
        "jwt_shaped_garbage",
        "other_clients_refresh_token",
        "other_clients_access_token",
    ],
)
async def test_revoke_token_the_client_does_not_own_returns_200_and_changes_nothing(
    auth_client: httpx.AsyncClient,
    db: Database,
    other_client: TestClient,
    tokens: dict[str, Any],
    which: str,
) -> None:
    token = {
        "unknown_refresh_token": "x" * 43,
        "garbage": "%%% not a token \u00e9 %%%",
        "jwt_shaped_garbage": "a.b.c",
        "other_clients_refresh_token": tokens["refresh_token"],
        "other_clients_access_token": tokens["access_token"],
    }[which]
    before = await snapshot(db)

    response = await revoke(auth_client, other_client, token)

    # RFC 7009 §2.2: an invalid token is not an error; and a client may only revoke its own.
    assert_revoke_ok(response)
    assert await snapshot(db) == before


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "something_else"])
async def test_revoke_refresh_token_with_any_hint_revokes_it(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    hint: str,
) -> None:
    response = await revoke(auth_client, confidential_client, tokens["refresh_token"], hint=hint)

    # RFC 7009 §2.1: the hint may speed up the lookup; a wrong hint must not stop it.
    assert_revoke_ok(response)
    assert (await only_grant(db, confidential_client)).revoked_at is not None
    (event,) = await db.all(RevocationEvent)
    assert event.kind == "grant"


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "something_else"])
async def test_revoke_access_token_with_any_hint_revokes_it(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    hint: str,
) -> None:
    jti = (await verified_claims(auth_client, tokens["access_token"]))["jti"]

    response = await revoke(auth_client, confidential_client, tokens["access_token"], hint=hint)

    assert_revoke_ok(response)
    (event,) = await db.all(RevocationEvent)
    assert (event.kind, event.value) == ("token", jti)


async def test_revoke_same_tokens_twice_returns_200_and_publishes_each_once(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    for _ in range(2):
        assert_revoke_ok(await revoke(auth_client, confidential_client, tokens["access_token"]))
        assert_revoke_ok(await revoke(auth_client, confidential_client, tokens["refresh_token"]))

    events = await db.all(RevocationEvent)
    assert sorted(e.kind for e in events) == ["grant", "token"]


async def _me(resource_client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await resource_client.get("/api/v1/me", headers=bearer(access_token))


def assert_revoked_at_resource(response: httpx.Response) -> None:
    # RFC 6750 §3.1: invalid_token, 401, the same code and description in body and challenge.
    assert_oauth_error(
        response, "invalid_token", status=401, description="the access token was revoked"
    )
    params = challenge_params(response.headers["www-authenticate"])
    assert (params["error"], params["error_description"]) == (
        "invalid_token",
        "the access token was revoked",
    )


@pytest.mark.parametrize("revoked", ["access_token", "refresh_token"])
async def test_revoke_then_feed_poll_makes_resource_refuse_access_token(
    auth_client: httpx.AsyncClient,
    resource_app: FastAPI,
    resource_client: httpx.AsyncClient,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    revoked: str,
) -> None:
    assert (await _me(resource_client, tokens["access_token"])).status_code == 200
    assert_revoke_ok(await revoke(auth_client, confidential_client, tokens[revoked]))

    assert await resource_app.state.revocation_feed.poll() is True

    assert_revoked_at_resource(await _me(resource_client, tokens["access_token"]))


async def test_revoke_background_feed_poll_reaches_resource_within_poll_interval(
    auth_client: httpx.AsyncClient,
    resource_settings: ResourceSettings,
    resource_client: httpx.AsyncClient,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    assert (await _me(resource_client, tokens["access_token"])).status_code == 200
    assert_revoke_ok(await revoke(auth_client, confidential_client, tokens["access_token"]))
    started = time.monotonic()

    response = await _me(resource_client, tokens["access_token"])
    while response.status_code == 200 and time.monotonic() - started < 5:
        await asyncio.sleep(0.05)
        response = await _me(resource_client, tokens["access_token"])

    assert_revoked_at_resource(response)
    # Worst case without Redis: one poll interval plus one request (shared/revocations.py).
    assert time.monotonic() - started <= resource_settings.revocation_poll_interval + 1.0


async def test_revocation_feed_lists_unexpired_events_with_their_fields(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user: TestUser,
    tokens: dict[str, Any],
    clock: TestClock,
) -> None:
    short_lived = await make_client(db, access_token_ttl=60)
    short_tokens = await tokens_for(auth_client, AuthorizationRequest(short_lived), user)
    short_jti = (await verified_claims(auth_client, short_tokens["access_token"]))["jti"]
    assert_revoke_ok(await revoke(auth_client, short_lived, short_tokens["access_token"]))
    assert_revoke_ok(await revoke(auth_client, confidential_client, tokens["refresh_token"]))
    grant = await only_grant(db, confidential_client)
    token_event, grant_event = sorted(
        await db.all(RevocationEvent), key=lambda e: e.kind != "token"
    )

    response = await auth_client.get("/oauth/revocations", params={"since": "0"})

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"now", "complete", "events"}
    assert body["complete"] is True
    assert abs(body["now"] - clock().timestamp()) < 5
    assert body["events"] == [
        {
            "id": token_event.id,
            "type": "token",
            "value": short_jti,
            "created_at": token_event.created_at.timestamp(),
            "expires_at": int(token_event.expires_at.timestamp()),
        },
        {
            "id": grant_event.id,
            "type": "grant",
            "value": grant.id,
            "created_at": grant_event.created_at.timestamp(),
            "expires_at": int(grant_event.expires_at.timestamp()),
        },
    ]

    # Past the short token's deny entry (exp + margin) but not the grant's.
    clock.advance(60 + DENY_MARGIN + 5)
    later = (await auth_client.get("/oauth/revocations", params={"since": "0"})).json()

    assert [(e["type"], e["value"]) for e in later["events"]] == [("grant", grant.id)]


async def test_revocation_feed_since_after_event_omits_it(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, tokens: dict[str, Any]
) -> None:
    assert_revoke_ok(await revoke(auth_client, confidential_client, tokens["access_token"]))
    first = (await auth_client.get("/oauth/revocations", params={"since": "0"})).json()
    (event,) = first["events"]

    response = await auth_client.get(
        "/oauth/revocations", params={"since": str(event["created_at"] + 0.001)}
    )

    assert response.status_code == 200, response.text
    assert response.json()["events"] == []


@pytest.mark.parametrize("since", ["abc", "-1", "1e12", "nan"])
async def test_revocation_feed_bad_since_is_invalid_request(
    auth_client: httpx.AsyncClient, since: str
) -> None:
    response = await auth_client.get("/oauth/revocations", params={"since": since})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_revocation_feed_repeated_since_is_invalid_request(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.get("/oauth/revocations?since=0&since=1")

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "parameter since was sent more than once",
    }
