"""POST /oauth/token with grant_type=refresh_token: RFC 6749 §6, rotation and reuse per RFC 9700 §4.14.2."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from auth_service.config import AuthSettings
from auth_service.security.secrets import hash_token
from shared.models import RefreshToken
from shared.tokens import load_public_jwk, verify_signature
from tests.factories import TestClient, TestUser, make_client
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.lifecycle import only_grant
from tests.support.token_endpoint import refresh

GRACE = 5  # AuthSettings.refresh_token_reuse_grace default


@pytest.fixture
def refresh_token_reuse_grace() -> int:
    """Override per test with @pytest.mark.parametrize("refresh_token_reuse_grace", [...])."""
    return GRACE


@pytest.fixture
def settings(settings: AuthSettings, refresh_token_reuse_grace: int) -> AuthSettings:
    return settings.model_copy(update={"refresh_token_reuse_grace": refresh_token_reuse_grace})


async def _row(db: Database, refresh_token: str) -> RefreshToken:
    row = await db.get(RefreshToken, hash_token(refresh_token))
    assert row is not None
    return row


async def _access_claims(auth_client: httpx.AsyncClient, access_token: str) -> dict[str, Any]:
    keys = (await auth_client.get("/.well-known/jwks.json")).json()["keys"]
    (jwk,) = [key for key in keys if key["alg"] == "RS256"]  # AUTH_SIGNING_ALG's key
    return verify_signature(access_token, load_public_jwk(jwk, "RS256"), "RS256")


async def test_refresh_token_valid_token_returns_new_token_set_with_no_store(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user: TestUser,
    tokens: dict[str, Any],
) -> None:
    response = await refresh(auth_client, confidential_client, tokens["refresh_token"])

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "id_token",
    }
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid profile"
    assert body["refresh_token"] != tokens["refresh_token"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    claims = await _access_claims(auth_client, body["access_token"])
    grant = await only_grant(db, confidential_client)
    assert (claims["sub"], claims["grant_id"]) == (user.id, grant.id)
    old, new = await _row(db, tokens["refresh_token"]), await _row(db, body["refresh_token"])
    assert old.rotated_at is not None
    assert (new.parent_hash, new.grant_id, new.rotated_at) == (old.token_hash, grant.id, None)


@pytest.mark.parametrize("refresh_token_reuse_grace", [0])
async def test_refresh_token_rotated_token_with_strict_reuse_is_refused(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, tokens: dict[str, Any]
) -> None:
    first = await refresh(auth_client, confidential_client, tokens["refresh_token"])
    assert first.status_code == 200, first.text

    again = await refresh(auth_client, confidential_client, tokens["refresh_token"])

    assert_oauth_error(again, "invalid_grant", description="refresh token was already used")


async def test_refresh_token_new_token_can_be_refreshed_again(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, tokens: dict[str, Any]
) -> None:
    second = (await refresh(auth_client, confidential_client, tokens["refresh_token"])).json()

    third = await refresh(auth_client, confidential_client, second["refresh_token"])

    assert third.status_code == 200, third.text


async def test_refresh_token_narrower_scope_returns_access_token_with_that_scope(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, tokens: dict[str, Any]
) -> None:
    response = await refresh(
        auth_client, confidential_client, tokens["refresh_token"], scope="profile"
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "profile"
    assert "id_token" not in body
    assert (await _access_claims(auth_client, body["access_token"]))["scope"] == "profile"
    # RFC 6749 §6: narrowing this access token does not shrink the grant.
    wide_again = await refresh(
        auth_client, confidential_client, body["refresh_token"], scope="openid profile"
    )
    assert wide_again.status_code == 200, wide_again.text
    assert wide_again.json()["scope"] == "openid profile"


async def test_refresh_token_wider_scope_returns_invalid_scope_and_keeps_token(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    response = await refresh(
        auth_client, confidential_client, tokens["refresh_token"], scope="openid profile email"
    )

    # RFC 6749 §6: the scope must not include any scope not originally granted.
    assert_oauth_error(
        response,
        "invalid_scope",
        description="the requested scope exceeds the scope originally granted",
    )
    assert (await _row(db, tokens["refresh_token"])).rotated_at is None
    retry = await refresh(auth_client, confidential_client, tokens["refresh_token"])
    assert retry.status_code == 200, retry.text


async def test_refresh_token_presented_by_another_client_returns_invalid_grant(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    other = await make_client(db)

    response = await refresh(auth_client, other, tokens["refresh_token"])

    # RFC 6749 §6: the refresh token is bound to the client it was issued to.
    assert_oauth_error(response, "invalid_grant", description="refresh token is invalid")
    row = await _row(db, tokens["refresh_token"])
    assert (row.rotated_at, row.revoked_at) == (None, None)
    owner = await refresh(auth_client, confidential_client, tokens["refresh_token"])
    assert owner.status_code == 200, owner.text


async def test_refresh_token_unknown_token_returns_invalid_grant(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, tokens: dict[str, Any]
) -> None:
    response = await refresh(auth_client, confidential_client, "no-such-token")

    assert_oauth_error(response, "invalid_grant", description="refresh token is invalid")


async def test_refresh_token_missing_parameter_returns_invalid_request(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    response = await auth_client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token"},
        auth=confidential_client.basic_auth(),
    )

    assert_oauth_error(response, "invalid_request", description="refresh_token is required")


async def test_refresh_token_reuse_after_grace_window_revokes_family(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    clock: TestClock,
) -> None:
    successor = (await refresh(auth_client, confidential_client, tokens["refresh_token"])).json()
    clock.advance(GRACE + 1)

    reuse = await refresh(auth_client, confidential_client, tokens["refresh_token"])

    # RFC 9700 §4.14.2: a rotated token seen again means theft; the whole family dies.
    assert_oauth_error(reuse, "invalid_grant", description="refresh token was already used")
    assert (await only_grant(db, confidential_client)).revoked_at is not None
    rows = await db.all(RefreshToken)
    assert len(rows) == 2
    assert all(row.revoked_at is not None for row in rows)
    newest = await refresh(auth_client, confidential_client, successor["refresh_token"])
    assert_oauth_error(newest, "invalid_grant", description="refresh token was revoked")


async def test_refresh_token_reuse_leaves_the_grants_last_use_as_it_was(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    clock: TestClock,
) -> None:
    await refresh(auth_client, confidential_client, tokens["refresh_token"])
    before = await only_grant(db, confidential_client)
    clock.advance(2 * 3600)

    reuse = await refresh(auth_client, confidential_client, tokens["refresh_token"])

    # A theft attempt issues nothing: it is not the app's last use, and the revocation need not
    # be published for access tokens that were never made.
    assert_oauth_error(reuse, "invalid_grant", description="refresh token was already used")
    after = await only_grant(db, confidential_client)
    assert after.revoked_at is not None
    assert (after.last_used_at, after.access_expires_at) == (
        before.last_used_at,
        before.access_expires_at,
    )


async def test_refresh_token_reuse_within_grace_window_replaces_first_successor(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    clock: TestClock,
) -> None:
    first = (await refresh(auth_client, confidential_client, tokens["refresh_token"])).json()
    clock.advance(GRACE - 3)  # inside the window, with room for the real time a request takes

    retry = await refresh(auth_client, confidential_client, tokens["refresh_token"])

    # A retry whose answer was lost: answered again; the unreceived successor is marked used.
    assert retry.status_code == 200, retry.text
    second = retry.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await only_grant(db, confidential_client)).revoked_at is None
    superseded = await _row(db, first["refresh_token"])
    assert superseded.rotated_at is not None and superseded.revoked_at is None
    latest = await refresh(auth_client, confidential_client, second["refresh_token"])
    assert latest.status_code == 200, latest.text


async def test_refresh_token_superseded_successor_presented_later_revokes_family(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    clock: TestClock,
) -> None:
    # Someone replayed the just-rotated token within the grace window and took over the family;
    # when the successor they displaced shows up, somebody did receive it: theft, family revoked
    # (RFC 9700 §4.14.2).
    first = (await refresh(auth_client, confidential_client, tokens["refresh_token"])).json()
    clock.advance(GRACE - 3)  # inside the window, with room for the real time a request takes
    replay = (await refresh(auth_client, confidential_client, tokens["refresh_token"])).json()
    clock.advance(GRACE + 1)

    displaced = await refresh(auth_client, confidential_client, first["refresh_token"])

    assert_oauth_error(displaced, "invalid_grant", description="refresh token was already used")
    assert (await only_grant(db, confidential_client)).revoked_at is not None
    taken_over = await refresh(auth_client, confidential_client, replay["refresh_token"])
    assert_oauth_error(taken_over, "invalid_grant", description="refresh token was revoked")


async def test_refresh_token_rotated_then_expired_presented_again_revokes_family(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    # A rotated token is a reuse however late it comes back, even past its own idle expiry.
    await refresh(auth_client, confidential_client, tokens["refresh_token"])
    clock.advance(settings.refresh_token_idle_ttl + 10)

    reuse = await refresh(auth_client, confidential_client, tokens["refresh_token"])

    assert_oauth_error(reuse, "invalid_grant", description="refresh token was already used")
    assert (await only_grant(db, confidential_client)).revoked_at is not None


async def test_refresh_token_reuse_within_grace_after_successor_was_used_revokes_family(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    first = (await refresh(auth_client, confidential_client, tokens["refresh_token"])).json()
    used = await refresh(auth_client, confidential_client, first["refresh_token"])
    assert used.status_code == 200, used.text

    # The successor was used, so the client did receive it: the old token replayed is theft.
    reuse = await refresh(auth_client, confidential_client, tokens["refresh_token"])

    assert_oauth_error(reuse, "invalid_grant", description="refresh token was already used")
    assert (await only_grant(db, confidential_client)).revoked_at is not None


async def test_refresh_token_past_idle_expiry_returns_invalid_grant(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    clock.advance(settings.refresh_token_idle_ttl + 1)

    response = await refresh(auth_client, confidential_client, tokens["refresh_token"])

    assert_oauth_error(response, "invalid_grant", description="refresh token has expired")


async def test_refresh_token_past_family_absolute_expiry_returns_invalid_grant(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    idle, absolute = settings.refresh_token_idle_ttl, settings.refresh_token_ttl
    assert idle < absolute < 2 * (idle - 60) + idle
    current = tokens["refresh_token"]
    # Each rotation inside the idle window resets the idle expiry, never the family's absolute one.
    for _ in range(2):
        clock.advance(idle - 60)
        response = await refresh(auth_client, confidential_client, current)
        assert response.status_code == 200, response.text
        current = response.json()["refresh_token"]
    clock.advance(absolute - 2 * (idle - 60) + 1)

    response = await refresh(auth_client, confidential_client, current)

    assert_oauth_error(response, "invalid_grant", description="refresh token has expired")
