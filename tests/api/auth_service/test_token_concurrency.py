"""One-time credentials under concurrent redemption: exactly one winner (RFC 6749 §4.1.2, RFC 9700 §4.14.2).

Runs on SQLite by default and on PostgreSQL with TEST_DATABASE_URL; the guarantee must hold on both.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from auth_service.config import AuthSettings
from shared.models import AuthorizationCode, Grant, RefreshToken
from tests.factories import TestClient, TestUser
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, exchange_code, get_code, tokens_for
from tests.support.token_endpoint import refresh

RACERS = 20


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    # Strict reuse detection: any second use of a refresh token is a reuse, however close in time.
    return settings.model_copy(update={"refresh_token_reuse_grace": 0})


def _outcomes(responses: list[httpx.Response]) -> Counter[Any]:
    return Counter(
        r.status_code if r.status_code == 200 else r.json().get("error") for r in responses
    )


async def test_token_authorization_code_redeemed_concurrently_succeeds_exactly_once(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user: TestUser,
) -> None:
    request = AuthorizationRequest(confidential_client)
    code = await get_code(auth_client, request, user)

    responses = await asyncio.gather(
        *(exchange_code(auth_client, request, code) for _ in range(RACERS))
    )

    assert _outcomes(responses) == {200: 1, "invalid_grant": RACERS - 1}, [
        r.text for r in responses
    ]
    for response in responses:
        if response.status_code != 200:
            assert_oauth_error(
                response, "invalid_grant", description="authorization code was already used"
            )
    assert await db.count(AuthorizationCode) == 1
    assert await db.count(RefreshToken) == 1
    # The losers are second uses: the family the winner obtained is revoked (RFC 6749 §4.1.2).
    (grant,) = await db.all(Grant)
    assert grant.revoked_at is not None
    (winner,) = [r for r in responses if r.status_code == 200]
    after = await refresh(auth_client, confidential_client, winner.json()["refresh_token"])
    assert_oauth_error(after, "invalid_grant", description="refresh token was revoked")


async def test_refresh_token_redeemed_concurrently_succeeds_exactly_once(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user: TestUser,
) -> None:
    tokens = await tokens_for(auth_client, AuthorizationRequest(confidential_client), user)

    responses = await asyncio.gather(
        *(refresh(auth_client, confidential_client, tokens["refresh_token"]) for _ in range(RACERS))
    )

    assert _outcomes(responses) == {200: 1, "invalid_grant": RACERS - 1}, [
        r.text for r in responses
    ]
    for response in responses:
        if response.status_code != 200:
            assert_oauth_error(response, "invalid_grant")
    # One successor only, and the reuse revoked the family (RFC 9700 §4.14.2).
    assert await db.count(RefreshToken) == 2
    (grant,) = await db.all(Grant)
    assert grant.revoked_at is not None


async def test_refresh_token_reuse_by_request_that_read_clock_before_rotation_revokes_family(
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    user: TestUser,
    clock: TestClock,
) -> None:
    """The deterministic form of the race: the loser took `now` just before the winner rotated.

    On PostgreSQL the loser reads the clock before its UPDATE waits on the winner's row lock, so its
    `now` can precede the winner's `rotated_at`; with a zero grace window that must still be reuse.
    """
    tokens = await tokens_for(auth_client, AuthorizationRequest(confidential_client), user)
    winner = await refresh(auth_client, confidential_client, tokens["refresh_token"])
    assert winner.status_code == 200, winner.text
    clock.advance(-1)

    loser = await refresh(auth_client, confidential_client, tokens["refresh_token"])

    # RFC 9700 §4.14.2 with no grace: every second use is refused and revokes the family.
    assert_oauth_error(loser, "invalid_grant", description="refresh token was already used")
    (grant,) = await db.all(Grant)
    assert grant.revoked_at is not None
