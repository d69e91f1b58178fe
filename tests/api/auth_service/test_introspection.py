"""POST /oauth/introspect (RFC 7662) for clients an operator allowed to introspect."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from auth_service.config import AuthSettings
from auth_service.security.secrets import hash_token
from shared.models import RefreshToken
from tests.conftest import AUDIENCE, ISSUER
from tests.factories import TestClient, TestUser, make_client
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.lifecycle import client_credentials, introspect, revoke, verified_claims
from tests.support.token_endpoint import refresh

ACCESS_TOKEN_TTL = 900  # AuthSettings.access_token_ttl default
INACTIVE = {"active": False}


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    # Strict reuse detection: a rotated refresh token presented again revokes its family.
    return settings.model_copy(update={"refresh_token_reuse_grace": 0})


async def introspection(
    auth: httpx.AsyncClient, client: TestClient, token: str, *, hint: str | None = None
) -> dict[str, Any]:
    """The JSON answer, asserting 200 and `Cache-Control: no-store` (RFC 7662 §2.2)."""
    response = await introspect(auth, client, token, hint=hint)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def test_introspect_client_without_permission_returns_403_unauthorized_client(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, tokens: dict[str, Any]
) -> None:
    response = await introspect(auth_client, confidential_client, tokens["access_token"])

    # RFC 7662 §4: only clients the server designated may learn about tokens.
    assert_oauth_error(
        response,
        "unauthorized_client",
        status=403,
        description="this client is not allowed to introspect tokens",
    )


async def test_introspect_without_client_authentication_returns_401_invalid_client(
    auth_client: httpx.AsyncClient, tokens: dict[str, Any]
) -> None:
    response = await auth_client.post("/oauth/introspect", data={"token": tokens["access_token"]})

    # RFC 7662 §2.1: the endpoint must require authorization, against token scanning.
    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication is required"
    )


async def test_introspect_wrong_client_secret_returns_401_invalid_client(
    auth_client: httpx.AsyncClient, introspector: TestClient, tokens: dict[str, Any]
) -> None:
    response = await auth_client.post(
        "/oauth/introspect",
        data={"token": tokens["access_token"]},
        auth=(introspector.client_id, "not-the-secret"),
    )

    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication failed"
    )


async def test_introspect_missing_token_returns_invalid_request(
    auth_client: httpx.AsyncClient, introspector: TestClient
) -> None:
    response = await auth_client.post(
        "/oauth/introspect",
        data={"token_type_hint": "access_token"},
        auth=introspector.basic_auth(),
    )

    assert_oauth_error(response, "invalid_request", description="token is required")


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
async def test_introspect_active_access_token_returns_rfc7662_fields(
    auth_client: httpx.AsyncClient,
    introspector: TestClient,
    confidential_client: TestClient,
    user: TestUser,
    tokens: dict[str, Any],
    hint: str | None,
) -> None:
    claims = await verified_claims(auth_client, tokens["access_token"])

    body = await introspection(auth_client, introspector, tokens["access_token"], hint=hint)

    # RFC 7662 §2.2; a wrong hint only changes where the server looks first.
    assert body == {
        "active": True,
        "scope": "openid profile",
        "client_id": confidential_client.client_id,
        "username": user.username,
        "token_type": "Bearer",
        "exp": claims["exp"],
        "iat": claims["iat"],
        "sub": user.id,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "jti": claims["jti"],
    }


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
async def test_introspect_active_refresh_token_returns_refresh_token_type(
    auth_client: httpx.AsyncClient,
    db: Database,
    introspector: TestClient,
    confidential_client: TestClient,
    user: TestUser,
    tokens: dict[str, Any],
    hint: str | None,
) -> None:
    row = await db.get(RefreshToken, hash_token(tokens["refresh_token"]))
    assert row is not None

    body = await introspection(auth_client, introspector, tokens["refresh_token"], hint=hint)

    assert body == {
        "active": True,
        "scope": "openid profile",
        "client_id": confidential_client.client_id,
        "username": user.username,
        "token_type": "refresh_token",
        "exp": int(row.expires_at.timestamp()),
        "iat": int(row.created_at.timestamp()),
        "sub": user.id,
        "iss": ISSUER,
    }


async def test_introspect_client_credentials_token_has_client_as_sub_and_no_username(
    auth_client: httpx.AsyncClient, db: Database, introspector: TestClient
) -> None:
    service = await make_client(db, grant_types=["client_credentials"], scope="read:notes")
    issued = await client_credentials(auth_client, service, scope="read:notes")
    assert issued.status_code == 200, issued.text
    claims = await verified_claims(auth_client, issued.json()["access_token"])

    body = await introspection(auth_client, introspector, issued.json()["access_token"])

    assert body == {
        "active": True,
        "scope": "read:notes",
        "client_id": service.client_id,
        "token_type": "Bearer",
        "exp": claims["exp"],
        "iat": claims["iat"],
        "sub": service.client_id,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "jti": claims["jti"],
    }


@pytest.mark.parametrize(
    "token",
    ["x" * 43, "a.b.c", "%%% garbage \u00e9 %%%", "y" * 4000],
    ids=["unknown", "jwt_shaped", "garbage", "long"],
)
async def test_introspect_unknown_or_garbage_token_returns_only_inactive(
    auth_client: httpx.AsyncClient, introspector: TestClient, token: str
) -> None:
    # RFC 7662 §2.2: nothing but active=false, whatever the reason.
    assert await introspection(auth_client, introspector, token) == INACTIVE


async def test_introspect_access_token_past_exp_returns_only_inactive(
    auth_client: httpx.AsyncClient,
    introspector: TestClient,
    tokens: dict[str, Any],
    clock: TestClock,
) -> None:
    clock.advance(ACCESS_TOKEN_TTL + 1)

    assert await introspection(auth_client, introspector, tokens["access_token"]) == INACTIVE


async def test_introspect_refresh_token_past_idle_lifetime_returns_only_inactive(
    auth_client: httpx.AsyncClient,
    introspector: TestClient,
    settings: AuthSettings,
    tokens: dict[str, Any],
    clock: TestClock,
) -> None:
    clock.advance(settings.refresh_token_idle_ttl + 1)

    assert await introspection(auth_client, introspector, tokens["refresh_token"]) == INACTIVE


@pytest.mark.parametrize("revoked", ["access_token", "refresh_token"])
async def test_introspect_after_revocation_returns_only_inactive(
    auth_client: httpx.AsyncClient,
    introspector: TestClient,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    revoked: str,
) -> None:
    response = await revoke(auth_client, confidential_client, tokens[revoked])
    assert response.status_code == 200, response.text

    # Revoking the refresh token revokes the grant, and with it the grant's access tokens.
    assert await introspection(auth_client, introspector, tokens[revoked]) == INACTIVE
    assert await introspection(auth_client, introspector, tokens["access_token"]) == INACTIVE


async def test_introspect_rotated_refresh_token_returns_only_inactive(
    auth_client: httpx.AsyncClient,
    introspector: TestClient,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    rotated = await refresh(auth_client, confidential_client, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text

    assert await introspection(auth_client, introspector, tokens["refresh_token"]) == INACTIVE
    successor = await introspection(auth_client, introspector, rotated.json()["refresh_token"])
    assert successor["active"] is True


async def test_introspect_family_revoked_by_reuse_returns_only_inactive(
    auth_client: httpx.AsyncClient,
    introspector: TestClient,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    successor = (await refresh(auth_client, confidential_client, tokens["refresh_token"])).json()
    reused = await refresh(auth_client, confidential_client, tokens["refresh_token"])
    assert_oauth_error(reused, "invalid_grant", description="refresh token was already used")

    # RFC 9700 §4.14.2: reuse revokes the family, the successor's tokens included.
    for token in (
        successor["refresh_token"],
        successor["access_token"],
        tokens["access_token"],
    ):
        assert await introspection(auth_client, introspector, token) == INACTIVE
