"""ID tokens from the token endpoint: OIDC Core §2, §3.1.3.6-§3.1.3.7, §12.2; prompt and max_age (§3.1.2.1)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from auth_service.config import AuthSettings
from shared.models import SigningKey, UserSession
from tests.conftest import ISSUER
from tests.factories import REDIRECT_URI, TestClient, TestUser
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest
from tests.support.oidc import code_flow_tokens, expected_at_hash, verified_id_token
from tests.support.pages import assert_client_code, assert_step_redirect
from tests.support.token_endpoint import refresh

# Spaces, reserved URL characters and non-ASCII: the nonce comes back exactly as sent.
UNICODE_NONCE = "n 0ñcé ✓ 𝄞 a+b&c=d%20"


async def id_claims(auth: httpx.AsyncClient, tokens: dict[str, Any]) -> dict[str, Any]:
    _, claims = await verified_id_token(auth, tokens["id_token"])
    return claims


async def session_auth_time(db: Database) -> int:
    (session,) = await db.all(UserSession)
    return int(session.auth_time.timestamp())


# --- Header and claims of the code flow's ID token ---


async def test_id_token_header_is_rs256_with_published_kid_and_typ_jwt(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    signing_key: SigningKey,
) -> None:
    _, tokens = await code_flow_tokens(auth_client, confidential_client, user)

    header, _ = await verified_id_token(auth_client, tokens["id_token"])

    assert header == {"alg": "RS256", "kid": signing_key.kid, "typ": "JWT"}


async def test_id_token_code_flow_has_exactly_the_oidc_claims(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    before = int(clock().timestamp())
    request, tokens = await code_flow_tokens(auth_client, confidential_client, user)
    after = int(clock().timestamp())

    claims = await id_claims(auth_client, tokens)

    assert set(claims) == {
        "iss",
        "sub",
        "aud",
        "azp",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "at_hash",
    }
    assert claims["iss"] == ISSUER
    assert claims["sub"] == user.id
    assert claims["aud"] == confidential_client.client_id
    assert claims["azp"] == confidential_client.client_id
    assert before <= claims["iat"] <= after
    assert claims["exp"] == claims["iat"] + settings.id_token_ttl
    assert claims["nonce"] == request.nonce


async def test_id_token_auth_time_is_the_login_time(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    clock: TestClock,
) -> None:
    before = clock().timestamp()
    _, tokens = await code_flow_tokens(auth_client, confidential_client, user)
    after = clock().timestamp()

    claims = await id_claims(auth_client, tokens)

    # OIDC Core §2: when the End-User authentication occurred, in whole seconds.
    assert claims["auth_time"] == await session_auth_time(db)
    assert before - 1 < claims["auth_time"] <= after
    assert claims["auth_time"] <= claims["iat"]


@pytest.mark.parametrize("nonce", ["n-0S6_WzA2Mj", UNICODE_NONCE])
async def test_id_token_nonce_is_exactly_the_request_nonce(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser, nonce: str
) -> None:
    _, tokens = await code_flow_tokens(auth_client, confidential_client, user, nonce=nonce)

    claims = await id_claims(auth_client, tokens)

    # OIDC Core §3.1.3.6: the nonce value is passed through unmodified.
    assert claims["nonce"] == nonce


async def test_id_token_at_hash_is_left_half_sha256_of_access_token(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    _, tokens = await code_flow_tokens(auth_client, confidential_client, user)

    claims = await id_claims(auth_client, tokens)

    assert claims["at_hash"] == expected_at_hash(tokens["access_token"])
    assert len(claims["at_hash"]) == 22  # 16 bytes, base64url without padding


async def test_id_token_request_without_nonce_has_no_nonce_claim(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    _, tokens = await code_flow_tokens(
        auth_client, confidential_client, user, extra={"nonce": None}
    )

    claims = await id_claims(auth_client, tokens)

    assert "nonce" not in claims


async def test_id_token_not_issued_without_openid_scope(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    _, tokens = await code_flow_tokens(auth_client, confidential_client, user, scope="read:notes")

    assert set(tokens) == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert tokens["scope"] == "read:notes"


# --- Refresh (OIDC Core §12.2) ---


async def test_id_token_on_refresh_keeps_sub_aud_auth_time_and_drops_nonce(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    _, tokens = await code_flow_tokens(auth_client, confidential_client, user)
    original = await id_claims(auth_client, tokens)
    clock.advance(120)

    response = await refresh(auth_client, confidential_client, tokens["refresh_token"])

    assert response.status_code == 200, response.text
    refreshed_tokens = response.json()
    refreshed = await id_claims(auth_client, refreshed_tokens)
    # §12.2: iss and sub the same as the original, aud too, auth_time the original authentication.
    assert refreshed["iss"] == original["iss"] == ISSUER
    assert refreshed["sub"] == original["sub"] == user.id
    assert refreshed["aud"] == original["aud"] == confidential_client.client_id
    assert refreshed["azp"] == confidential_client.client_id
    assert refreshed["auth_time"] == original["auth_time"]
    # §12.2: the nonce SHOULD NOT be present on a refreshed ID token.
    assert "nonce" not in refreshed
    assert refreshed["iat"] >= original["iat"] + 120
    assert refreshed["exp"] == refreshed["iat"] + settings.id_token_ttl
    assert refreshed["at_hash"] == expected_at_hash(refreshed_tokens["access_token"])


async def test_id_token_on_refresh_narrowed_without_openid_is_not_issued(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    _, tokens = await code_flow_tokens(
        auth_client, confidential_client, user, scope="openid read:notes"
    )

    response = await refresh(
        auth_client, confidential_client, tokens["refresh_token"], scope="read:notes"
    )

    assert response.status_code == 200, response.text
    assert "id_token" not in response.json()


# --- Re-authentication: prompt=login and max_age (OIDC Core §3.1.2.1) ---


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}])
async def test_id_token_prompt_login_or_max_age_zero_forces_new_login_and_later_auth_time(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    clock: TestClock,
    extra: dict[str, str | None],
) -> None:
    _, first_tokens = await code_flow_tokens(auth_client, confidential_client, user)
    first = await id_claims(auth_client, first_tokens)
    clock.advance(120)
    request = AuthorizationRequest(confidential_client, extra=extra)

    # The user has a session and consent, and still must log in again.
    response = await auth_client.get(request.url())
    assert_step_redirect(response, "/login")
    second_request, second_tokens = await code_flow_tokens(
        auth_client, confidential_client, user, extra=extra
    )

    second = await id_claims(auth_client, second_tokens)
    assert second["auth_time"] >= first["auth_time"] + 120
    assert second["auth_time"] == await session_auth_time(db)
    assert second["nonce"] == second_request.nonce


async def test_id_token_max_age_with_recent_login_keeps_auth_time(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    clock: TestClock,
) -> None:
    _, first_tokens = await code_flow_tokens(auth_client, confidential_client, user)
    first = await id_claims(auth_client, first_tokens)
    clock.advance(120)
    request = AuthorizationRequest(confidential_client, extra={"max_age": "3600"})

    # No login page: the session is recent enough, so the code comes at once.
    response = await auth_client.get(request.url())
    assert_client_code(response, REDIRECT_URI, state=request.state)
    _, second_tokens = await code_flow_tokens(
        auth_client, confidential_client, user, extra={"max_age": "3600"}
    )

    second = await id_claims(auth_client, second_tokens)
    # §3.1.2.1: with max_age the ID token MUST carry auth_time, here the earlier login.
    assert second["auth_time"] == first["auth_time"]
    assert second["auth_time"] == await session_auth_time(db)
