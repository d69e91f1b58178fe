"""GET/POST /oauth/userinfo: OIDC Core §5.3-§5.4 with bearer tokens per RFC 6750 §2-§3."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from auth_service.config import AuthSettings
from shared.models import User
from tests.factories import TestClient, TestUser, make_client
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.lifecycle import bearer, challenge_params, client_credentials, revoke
from tests.support.oidc import code_flow_tokens, verified_id_token

REALM = "myauth-userinfo"
# RFC 9449 §7.1: a challenge for each scheme the endpoint takes.
BARE_CHALLENGE = f'Bearer realm="{REALM}", DPoP realm="{REALM}", algs="ES256 PS256 EdDSA RS256"'


async def access_token_for(
    auth: httpx.AsyncClient, client: TestClient, user: TestUser, scope: str
) -> dict[str, Any]:
    _, tokens = await code_flow_tokens(auth, client, user, scope=scope)
    return tokens


def assert_bearer_error(
    response: httpx.Response, status: int, error: str, description: str, **extra: str
) -> None:
    """RFC 6750 §3: the status, the JSON error and a Bearer challenge naming the same error."""
    assert response.status_code == status, response.text
    assert response.json() == {"error": error, "error_description": description}
    assert challenge_params(response.headers["www-authenticate"]) == {
        "realm": REALM,
        "error": error,
        "error_description": description,
        **extra,
    }
    assert response.headers["cache-control"] == "no-store"


async def expected_profile_and_email(db: Database, user: TestUser) -> dict[str, Any]:
    row = await db.get(User, user.id)
    assert row is not None
    return {
        "sub": row.id,
        "name": row.name,
        "preferred_username": row.username,
        "updated_at": int(row.updated_at.timestamp()),
        "email": row.email,
        "email_verified": row.email_verified,
    }


# --- Claims released per scope (OIDC Core §5.3.2, §5.4) ---


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_userinfo_header_token_with_profile_email_scope_returns_exactly_those_claims(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    method: str,
) -> None:
    tokens = await access_token_for(auth_client, confidential_client, user, "openid profile email")

    response = await auth_client.request(
        method, "/oauth/userinfo", headers=bearer(tokens["access_token"])
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == await expected_profile_and_email(db, user)
    assert body["preferred_username"] == user.username
    assert body["name"] == "Test User"
    assert body["email_verified"] is False
    assert isinstance(body["updated_at"], int)


async def test_userinfo_openid_scope_only_returns_only_sub(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    tokens = await access_token_for(auth_client, confidential_client, user, "openid")

    response = await auth_client.get("/oauth/userinfo", headers=bearer(tokens["access_token"]))

    assert response.status_code == 200, response.text
    assert response.json() == {"sub": user.id}


async def test_userinfo_profile_without_email_scope_omits_email_claims(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    tokens = await access_token_for(auth_client, confidential_client, user, "openid profile")

    response = await auth_client.get("/oauth/userinfo", headers=bearer(tokens["access_token"]))

    assert response.status_code == 200, response.text
    expected = await expected_profile_and_email(db, user)
    del expected["email"], expected["email_verified"]
    assert response.json() == expected


async def test_userinfo_sub_equals_id_token_sub(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    # OIDC Core §5.3.2: the sub in the UserInfo response MUST match the ID token's sub.
    tokens = await access_token_for(auth_client, confidential_client, user, "openid profile email")
    _, id_claims = await verified_id_token(auth_client, tokens["id_token"])

    response = await auth_client.get("/oauth/userinfo", headers=bearer(tokens["access_token"]))

    assert response.status_code == 200, response.text
    assert response.json()["sub"] == id_claims["sub"] == user.id


async def test_userinfo_success_response_is_not_cacheable(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    tokens = await access_token_for(auth_client, confidential_client, user, "openid email")

    response = await auth_client.get("/oauth/userinfo", headers=bearer(tokens["access_token"]))

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


# --- Where the token travels (RFC 6750 §2) ---


async def test_userinfo_post_with_form_body_access_token_returns_claims(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    tokens = await access_token_for(auth_client, confidential_client, user, "openid profile email")

    response = await auth_client.post(
        "/oauth/userinfo", data={"access_token": tokens["access_token"]}
    )

    assert response.status_code == 200, response.text
    assert response.json() == await expected_profile_and_email(db, user)
    assert response.headers["cache-control"] == "no-store"


async def test_userinfo_token_in_header_and_body_returns_400_invalid_request(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    # RFC 6750 §2: clients MUST NOT use more than one method to transmit the token.
    tokens = await access_token_for(auth_client, confidential_client, user, "openid")
    token = tokens["access_token"]

    response = await auth_client.post(
        "/oauth/userinfo", headers=bearer(token), data={"access_token": token}
    )

    assert_bearer_error(response, 400, "invalid_request", "send the access token in one place only")


async def test_userinfo_without_token_returns_401_with_bare_bearer_challenge(
    auth_client: httpx.AsyncClient,
) -> None:
    # RFC 6750 §3.1: no authentication information, so no error code in the challenge.
    for response in (
        await auth_client.get("/oauth/userinfo"),
        await auth_client.post("/oauth/userinfo"),
        await auth_client.post("/oauth/userinfo", data={"other": "x"}),
    ):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == BARE_CHALLENGE
        assert "error" not in response.json()


async def test_userinfo_token_in_query_string_is_ignored_returns_401_bare_challenge(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    # RFC 9700 §4.3.2 / RFC 6750 §2.3: a token in the URL leaks; we do not read it there.
    tokens = await access_token_for(auth_client, confidential_client, user, "openid")

    response = await auth_client.get(
        "/oauth/userinfo", params={"access_token": tokens["access_token"]}
    )

    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == BARE_CHALLENGE


# --- Tokens that are not valid (RFC 6750 §3.1 invalid_token) ---


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
async def test_userinfo_garbage_token_returns_401_invalid_token(
    auth_client: httpx.AsyncClient, token: str
) -> None:
    response = await auth_client.get("/oauth/userinfo", headers=bearer(token))

    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    params = challenge_params(response.headers["www-authenticate"])
    assert params["realm"] == REALM
    assert params["error"] == "invalid_token"


async def test_userinfo_expired_token_returns_401_invalid_token(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    tokens = await access_token_for(auth_client, confidential_client, user, "openid")
    clock.advance(settings.access_token_ttl + settings.leeway + 1)

    response = await auth_client.get("/oauth/userinfo", headers=bearer(tokens["access_token"]))

    assert_bearer_error(response, 401, "invalid_token", "token has expired")


async def test_userinfo_revoked_access_token_returns_401_invalid_token(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    tokens = await access_token_for(auth_client, confidential_client, user, "openid")
    assert (
        await revoke(auth_client, confidential_client, tokens["access_token"])
    ).status_code == 200

    response = await auth_client.get("/oauth/userinfo", headers=bearer(tokens["access_token"]))

    assert_bearer_error(response, 401, "invalid_token", "the access token was revoked")


async def test_userinfo_access_token_of_revoked_refresh_family_returns_401_invalid_token(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    # RFC 7009 §2.1: revoking a refresh token should also invalidate its grant's access tokens.
    tokens = await access_token_for(auth_client, confidential_client, user, "openid")
    revoked = await revoke(auth_client, confidential_client, tokens["refresh_token"])
    assert revoked.status_code == 200

    response = await auth_client.get("/oauth/userinfo", headers=bearer(tokens["access_token"]))

    assert_bearer_error(response, 401, "invalid_token", "the access token was revoked")


async def test_userinfo_id_token_as_access_token_returns_401_invalid_token(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    # RFC 9068 §4: a JWT without typ at+jwt, here an ID token, is never an access token.
    tokens = await access_token_for(auth_client, confidential_client, user, "openid")

    response = await auth_client.get("/oauth/userinfo", headers=bearer(tokens["id_token"]))

    assert_bearer_error(response, 401, "invalid_token", "token is not an access token")


# --- Tokens without the openid scope (RFC 6750 §3.1 insufficient_scope) ---


async def test_userinfo_token_without_openid_scope_returns_403_insufficient_scope(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    tokens = await access_token_for(auth_client, confidential_client, user, "read:notes")

    response = await auth_client.get("/oauth/userinfo", headers=bearer(tokens["access_token"]))

    assert_bearer_error(
        response, 403, "insufficient_scope", "userinfo needs the openid scope", scope="openid"
    )


async def test_userinfo_client_credentials_token_returns_403_insufficient_scope(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    service = await make_client(db, grant_types=["client_credentials"], scope="read:notes")
    issued = await client_credentials(auth_client, service, scope="read:notes")
    assert issued.status_code == 200, issued.text

    response = await auth_client.get(
        "/oauth/userinfo", headers=bearer(issued.json()["access_token"])
    )

    assert_bearer_error(
        response, 403, "insufficient_scope", "userinfo needs the openid scope", scope="openid"
    )
