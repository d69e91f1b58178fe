"""GET /oauth/revocations: bounded per address, and private behind a bearer token where the
operator sets AUTH_REVOCATION_FEED_TOKEN; resource servers then send theirs (issue 13, part 7)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from resource_service.config import ResourceSettings
from shared.models import RevocationEvent
from tests.factories import TestClient
from tests.support.assertions import assert_oauth_error
from tests.support.db import Database

FEED_TOKEN = "feed-token-for-tests-0123456789abcdef"  # noqa: S105 - test credential
REALM = "myauth-revocations"
FEED = "/oauth/revocations"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestPrivateFeed:
    @pytest.fixture
    def settings(self, settings: AuthSettings) -> AuthSettings:
        return settings.model_copy(update={"revocation_feed_token": FEED_TOKEN})

    async def test_feed_without_token_is_a_bare_bearer_challenge(
        self, auth_client: httpx.AsyncClient
    ) -> None:
        response = await auth_client.get(FEED)

        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
        assert "events" not in response.json()

    @pytest.mark.parametrize("authorization", ["Bearer wrong-token", f"Basic {FEED_TOKEN}"])
    async def test_feed_with_wrong_credential_is_refused(
        self, auth_client: httpx.AsyncClient, authorization: str
    ) -> None:
        response = await auth_client.get(FEED, headers={"Authorization": authorization})

        assert response.status_code == 401, response.text
        assert "events" not in response.json()
        if authorization.startswith("Bearer"):
            description = "the revocation feed token is not valid"
            assert_oauth_error(response, "invalid_token", status=401, description=description)
            assert response.headers["www-authenticate"] == (
                f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'
            )
        else:
            assert response.headers["www-authenticate"] == f'Bearer realm="{REALM}"'

    async def test_feed_with_token_lists_the_revocations(
        self,
        auth_client: httpx.AsyncClient,
        confidential_client: TestClient,
        tokens: dict[str, Any],
    ) -> None:
        revoked = await auth_client.post(
            "/oauth/revoke",
            data={"token": tokens["refresh_token"]},
            auth=confidential_client.basic_auth(),
        )
        assert revoked.status_code == 200, revoked.text

        response = await auth_client.get(FEED, headers=bearer(FEED_TOKEN))

        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert [event["type"] for event in response.json()["events"]] == ["grant"]


class TestResourceServiceFollowingAPrivateFeed:
    @pytest.fixture
    def settings(self, settings: AuthSettings) -> AuthSettings:
        return settings.model_copy(update={"revocation_feed_token": FEED_TOKEN})

    @pytest.fixture
    def resource_settings(self, resource_settings: ResourceSettings) -> ResourceSettings:
        return resource_settings.model_copy(update={"revocation_feed_token": FEED_TOKEN})

    async def test_resource_service_sends_its_token_and_refuses_a_revoked_token(
        self,
        auth_client: httpx.AsyncClient,
        confidential_client: TestClient,
        tokens: dict[str, Any],
        resource_app: FastAPI,
        resource_client: httpx.AsyncClient,
    ) -> None:
        revoked = await auth_client.post(
            "/oauth/revoke",
            data={"token": tokens["refresh_token"]},
            auth=confidential_client.basic_auth(),
        )
        assert revoked.status_code == 200, revoked.text

        assert await resource_app.state.revocation_feed.poll()

        response = await resource_client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
        assert_oauth_error(
            response, "invalid_token", status=401, description="the access token was revoked"
        )


class TestResourceServiceWithoutTheToken:
    @pytest.fixture
    def settings(self, settings: AuthSettings) -> AuthSettings:
        return settings.model_copy(update={"revocation_feed_token": FEED_TOKEN})

    async def test_resource_service_without_token_keeps_its_list_and_learns_nothing(
        self,
        auth_client: httpx.AsyncClient,
        confidential_client: TestClient,
        tokens: dict[str, Any],
        db: Database,
        resource_app: FastAPI,
    ) -> None:
        revoked = await auth_client.post(
            "/oauth/revoke",
            data={"token": tokens["refresh_token"]},
            auth=confidential_client.basic_auth(),
        )
        assert revoked.status_code == 200, revoked.text
        feed = resource_app.state.revocation_feed

        assert not await feed.poll()
        assert feed.last_success is None
        assert len(feed.revocations) == 0
        assert await db.count(RevocationEvent) == 1


class TestThrottledFeed:
    @pytest.fixture
    def feed_token(self) -> str | None:
        return FEED_TOKEN

    @pytest.fixture
    def settings(self, settings: AuthSettings, feed_token: str | None) -> AuthSettings:
        return settings.model_copy(
            update={"revocation_feed_limit_per_ip": 3, "revocation_feed_token": feed_token}
        )

    @pytest.mark.parametrize("feed_token", [None, FEED_TOKEN], ids=["public", "private"])
    async def test_feed_past_the_limit_per_address_is_429_with_retry_after(
        self, auth_client: httpx.AsyncClient, feed_token: str | None
    ) -> None:
        # The app's own follower reads the table, not this endpoint: all hits are ours.
        headers = {} if feed_token is None else bearer("wrong")
        answered = [await auth_client.get(FEED, headers=headers) for _ in range(3)]
        refused = await auth_client.get(FEED, headers=headers)

        assert [r.status_code for r in answered] == [200 if feed_token is None else 401] * 3
        assert_oauth_error(refused, "temporarily_unavailable", status=429)
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert "events" not in refused.json()

    async def test_feed_does_not_count_followers_holding_the_token(
        self, auth_client: httpx.AsyncClient
    ) -> None:
        answered = [await auth_client.get(FEED, headers=bearer(FEED_TOKEN)) for _ in range(10)]
        guesses = [await auth_client.get(FEED, headers=bearer("wrong")) for _ in range(4)]

        assert [r.status_code for r in answered] == [200] * 10
        assert [r.status_code for r in guesses] == [401, 401, 401, 429]
