"""Revocations reach the resource API: the polled feed, the Redis nudge, feed outages (RFC 7009 §2).

RFC 7009 §2 lets a resource server learn of revocations with some delay; ours promises one poll
interval (2 s) without Redis and well under that with it. Tests list the resource app after the
data fixtures: its feed polls the auth app (BEGIN IMMEDIATE) in the background, and a factory's
deferred SQLite transaction that meets that lock when it upgrades fails at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.repositories import Repositories
from auth_service.revocations.feed import FEED_PAGE
from resource_service.config import ResourceSettings
from resource_service.main import create_app as create_resource_app
from shared.claims import AccessTokenClaims
from shared.models import AuditEvent, Grant, RevocationEvent
from shared.revocations import OVERLAP_SECONDS, RevocationFeed, RevocationList
from tests.conftest import AUDIENCE, ISSUER
from tests.factories import TestClient, TestUser
from tests.support.assertions import assert_oauth_error
from tests.support.challenges import RESOURCE_METADATA, parse_challenges
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, csrf_from, tokens_for
from tests.support.services import require_redis
from tests.support.token_endpoint import refresh

GRACE = 5  # AuthSettings.refresh_token_reuse_grace default
DEFAULT_POLL_INTERVAL = 2.0  # ResourceSettings.revocation_poll_interval default
REVOKED = "the access token was revoked"
FEED_URL = f"{ISSUER}/oauth/revocations"


@pytest.fixture
def use_redis() -> bool:
    """Override with @pytest.mark.parametrize("use_redis", [True]) to announce through Redis."""
    return False


@pytest.fixture
def settings(settings: AuthSettings, use_redis: bool) -> AuthSettings:
    if not use_redis:
        return settings
    return settings.model_copy(update={"redis_url": require_redis()})


@pytest.fixture
def resource_settings(resource_settings: ResourceSettings, use_redis: bool) -> ResourceSettings:
    if not use_redis:
        return resource_settings
    # An hour between polls: only the Redis announcement can deliver within the test.
    return resource_settings.model_copy(
        update={"redis_url": require_redis(), "revocation_poll_interval": 3600.0}
    )


@pytest.fixture
async def later_tokens(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> dict[str, Any]:
    """A second token family of the same user and client."""
    return await tokens_for(auth_client, AuthorizationRequest(confidential_client), user)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call_api(resource: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await resource.get("/api/v1/me", headers=bearer(access_token))


def assert_revoked(response: httpx.Response) -> None:
    assert_oauth_error(response, "invalid_token", status=401, description=REVOKED)
    assert parse_challenges(response.headers["www-authenticate"]) == [
        (
            "Bearer",
            {
                "realm": "myauth-api",
                "error": "invalid_token",
                "error_description": REVOKED,
                "resource_metadata": RESOURCE_METADATA,
            },
        )
    ]


async def refused_within(
    resource: httpx.AsyncClient, access_token: str, seconds: float, *, step: float = 0.2
) -> tuple[httpx.Response, float]:
    """Call the API until it refuses `access_token`; fail if it still accepts it after `seconds`."""
    started = time.monotonic()
    while True:
        response = await call_api(resource, access_token)
        waited = time.monotonic() - started
        if response.status_code != 200:
            return response, waited
        assert waited < seconds, f"access token still accepted after {waited:.1f} s"
        await asyncio.sleep(step)


async def wait_until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def revoke(
    auth: httpx.AsyncClient, client: TestClient, token: str, hint: str
) -> httpx.Response:
    response = await auth.post(
        "/oauth/revoke",
        data={"token": token, "token_type_hint": hint},
        auth=client.basic_auth(),
    )
    assert response.status_code == 200, response.text
    return response


# --- (a) The polled feed ---


async def test_refresh_token_reuse_after_grace_resource_api_refuses_family_within_5_s(
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    resource_app: FastAPI,
    resource_client: httpx.AsyncClient,
) -> None:
    assert resource_app.state.settings.revocation_poll_interval == DEFAULT_POLL_INTERVAL
    rotated = await refresh(auth_client, confidential_client, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    access_token = rotated.json()["access_token"]
    assert (await call_api(resource_client, access_token)).status_code == 200
    feed = resource_app.state.revocation_feed
    polls_before = feed.polls
    clock.advance(GRACE + 1)

    reuse = await refresh(auth_client, confidential_client, tokens["refresh_token"])

    # RFC 9700 §4.14.2: reuse of a rotated refresh token revokes the whole family.
    assert_oauth_error(reuse, "invalid_grant", description="refresh token was already used")
    (grant,) = await db.all(Grant)
    assert grant.revoked_at is not None
    assert [(e.kind, e.value) for e in await db.all(RevocationEvent)] == [("grant", grant.id)]
    # Nobody polls for the test: the background poll (every 2 s) must find the event.
    response, _ = await refused_within(resource_client, access_token, 5.0)
    assert_revoked(response)
    assert feed.polls > polls_before
    assert_revoked(await call_api(resource_client, tokens["access_token"]))


async def test_revocation_feed_lists_only_unexpired_events_since_the_given_instant(
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    now = clock()
    await db.add(
        RevocationEvent(
            kind="token", value="old", created_at=now - timedelta(hours=1), expires_at=now
        ),
        RevocationEvent(
            kind="token",
            value="long-ago",
            created_at=now - timedelta(hours=2),
            expires_at=now + timedelta(hours=1),
        ),
    )
    await revoke(auth_client, confidential_client, tokens["refresh_token"], "refresh_token")
    (grant,) = await db.all(Grant)
    since = (now - timedelta(minutes=1)).timestamp()

    response = await auth_client.get("/oauth/revocations", params={"since": f"{since:.6f}"})

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["complete"] is True
    assert [(e["type"], e["value"]) for e in body["events"]] == [("grant", grant.id)]
    assert body["now"] >= now.timestamp()


# --- (b) The Redis announcement ---


@pytest.mark.parametrize("use_redis", [True])
@pytest.mark.parametrize("token_type_hint", ["access_token", "refresh_token"])
async def test_revoke_announced_on_redis_resource_api_refuses_within_2_s_without_polling(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    resource_app: FastAPI,
    resource_client: httpx.AsyncClient,
    token_type_hint: str,
) -> None:
    feed = resource_app.state.revocation_feed
    assert resource_app.state.settings.revocation_poll_interval == 3600.0
    # One poll at start-up, one once the listener has subscribed: from then on, nudges arrive.
    await wait_until(lambda: feed.polls >= 2, 5.0)
    assert (await call_api(resource_client, tokens["access_token"])).status_code == 200
    notifier = auth_app.state.revocation_notifier
    announced = notifier.announced

    await revoke(auth_client, confidential_client, tokens[token_type_hint], token_type_hint)

    assert notifier.announced == announced + 1
    response, _ = await refused_within(resource_client, tokens["access_token"], 2.0, step=0.05)
    assert_revoked(response)


# --- (c) Feed outages ---


def _claims(*, jti: str, grant_id: str | None = None) -> AccessTokenClaims:
    return AccessTokenClaims(
        iss=ISSUER,
        sub="someone",
        aud=AUDIENCE,
        client_id="some-client",
        iat=0,
        exp=0,
        jti=jti,
        grant_id=grant_id,
    )


def _event(kind: str, value: str, created_at: float) -> dict[str, Any]:
    return {"id": 1, "type": kind, "value": value, "created_at": created_at, "expires_at": 10**10}


def _refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _time_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("no answer", request=request)


FAILURES: dict[str, Callable[[httpx.Request], httpx.Response]] = {
    "500": lambda request: httpx.Response(500, json={"error": "server_error"}),
    "503_html": lambda request: httpx.Response(503, text="<html>down</html>"),
    "not_json": lambda request: httpx.Response(200, text="<html>login</html>"),
    "wrong_shape": lambda request: httpx.Response(200, json={"events": "nope"}),
    "connect_error": _refuse_connection,
    "timeout": _time_out,
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_revocation_feed_failing_url_keeps_its_list_and_resumes(failure: str) -> None:
    answers: list[Callable[[httpx.Request], httpx.Response]] = [
        lambda r: httpx.Response(
            200, json={"now": 2000.0, "complete": True, "events": [_event("grant", "g1", 1990.0)]}
        ),
        FAILURES[failure],
        lambda r: httpx.Response(
            200, json={"now": 2010.0, "complete": True, "events": [_event("token", "j2", 2005.0)]}
        ),
    ]
    asked_since: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert str(request.url.copy_with(query=None)) == FEED_URL
        asked_since.append(request.url.params["since"])
        return answers.pop(0)(request)

    revocations = RevocationList()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        feed = RevocationFeed(http, revocations, feed_url=FEED_URL, poll_interval=3600)
        assert await feed.poll() is True
        first_success = feed.last_success

        assert await feed.poll() is False

        assert revocations.is_revoked(_claims(jti="a", grant_id="g1"))
        assert len(revocations) == 1
        assert feed.last_success == first_success
        assert await feed.poll() is True

    assert revocations.is_revoked(_claims(jti="a", grant_id="g1"))
    assert revocations.is_revoked(_claims(jti="j2"))
    assert len(revocations) == 2
    # A failed poll does not move the cursor: the next one asks from the same overlap point.
    resume_from = f"{2000.0 - OVERLAP_SECONDS:.6f}"
    assert asked_since == ["0.000000", resume_from, resume_from]
    assert feed.polls == 3


class FeedSwitch:
    """The issuer's feed as the resource service sees it: the real auth app, or a 500."""

    def __init__(self, auth_app: FastAPI) -> None:
        self.down = False
        self._auth = httpx.ASGITransport(app=auth_app)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down and request.url.path == "/oauth/revocations":
            return httpx.Response(500, json={"error": "server_error"})
        return await self._auth.handle_async_request(request)


@pytest.fixture
async def feed_switch(auth_app: FastAPI) -> FeedSwitch:
    return FeedSwitch(auth_app)


@pytest.fixture
async def switched_resource_app(
    resource_settings: ResourceSettings, feed_switch: FeedSwitch, clock: TestClock
) -> AsyncIterator[FastAPI]:
    quiet = resource_settings.model_copy(update={"revocation_poll_interval": 3600.0})
    http = httpx.AsyncClient(transport=httpx.MockTransport(feed_switch), base_url=ISSUER)
    app = create_resource_app(quiet, clock=clock, http_client=http)
    try:
        async with LifespanManager(app):
            yield app
    finally:
        await http.aclose()


async def test_resource_api_feed_outage_keeps_refusing_known_revocations_and_catches_up(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    tokens: dict[str, Any],
    later_tokens: dict[str, Any],
    switched_resource_app: FastAPI,
    feed_switch: FeedSwitch,
) -> None:
    later = later_tokens
    feed = switched_resource_app.state.revocation_feed
    transport = httpx.ASGITransport(app=switched_resource_app)
    async with httpx.AsyncClient(transport=transport, base_url=AUDIENCE) as resource:
        await revoke(auth_client, confidential_client, tokens["refresh_token"], "refresh_token")
        assert await feed.poll() is True
        assert_revoked(await call_api(resource, tokens["access_token"]))

        feed_switch.down = True
        await revoke(auth_client, confidential_client, later["access_token"], "access_token")
        assert await feed.poll() is False

        assert_revoked(await call_api(resource, tokens["access_token"]))
        # Not known yet while the feed is down: the API keeps serving what it can verify.
        assert (await call_api(resource, later["access_token"])).status_code == 200
        feed_switch.down = False
        assert await feed.poll() is True
        assert_revoked(await call_api(resource, later["access_token"]))
        assert_revoked(await call_api(resource, tokens["access_token"]))


# --- (d) Announcing only what was committed ---


async def test_revocation_notifier_announces_only_committed_revocations(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    notifier = auth_app.state.revocation_notifier
    assert notifier.announced == 0  # logins, consent and a token exchange committed no event

    await revoke(auth_client, confidential_client, tokens["refresh_token"], "refresh_token")
    assert notifier.announced == 1

    # Committed, but nothing new to publish: the family was already revoked.
    await revoke(auth_client, confidential_client, tokens["refresh_token"], "refresh_token")
    await revoke(auth_client, confidential_client, "not-a-token", "refresh_token")
    assert notifier.announced == 1

    # Failing token requests roll back and publish nothing.
    refused = await refresh(auth_client, confidential_client, tokens["refresh_token"])
    assert_oauth_error(refused, "invalid_grant", description="refresh token was revoked")
    unknown = await refresh(auth_client, confidential_client, "x" * 43)
    assert_oauth_error(unknown, "invalid_grant", description="refresh token is invalid")
    assert notifier.announced == 1


async def test_revocation_notifier_announces_access_token_revocation(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    notifier = auth_app.state.revocation_notifier

    await revoke(auth_client, confidential_client, tokens["access_token"], "access_token")

    assert notifier.announced == 1
    assert [e.kind for e in await db.all(RevocationEvent)] == ["token"]


async def test_revocation_notifier_announces_reuse_that_fails_but_commits_its_revocation(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    clock: TestClock,
    confidential_client: TestClient,
    tokens: dict[str, Any],
) -> None:
    notifier = auth_app.state.revocation_notifier
    rotated = await refresh(auth_client, confidential_client, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    assert notifier.announced == 0
    clock.advance(GRACE + 1)

    reuse = await refresh(auth_client, confidential_client, tokens["refresh_token"])

    assert_oauth_error(reuse, "invalid_grant", description="refresh token was already used")
    assert notifier.announced == 1


async def test_revocation_notifier_rolled_back_event_is_not_announced_by_a_later_commit(
    auth_app: FastAPI, clock: TestClock
) -> None:
    notifier = auth_app.state.revocation_notifier
    now = clock()
    async with auth_app.state.sessionmaker() as session:
        repos = Repositories.over(session)
        repos.revocations.add("token", "rolled-back", expires_at=now + timedelta(hours=1), now=now)
        await session.flush()
        await session.rollback()
        assert notifier.announced == 0
        # The same unit of work carries on and commits something else: no revocation in it.
        repos.audit.add(AuditEvent(created_at=now, event="test_marker"))
        await session.commit()

    assert notifier.announced == 0


async def test_revocation_feed_pages_through_more_events_than_a_page_with_one_timestamp(
    db: Database, clock: TestClock, resource_app: FastAPI
) -> None:
    # One transaction (an app revoked with many families) writes events sharing one created_at:
    # paging must advance by id, or the follower would fetch the same page for ever.

    now = clock()
    events = [
        RevocationEvent(
            kind="grant", value=f"g{i:05d}", created_at=now, expires_at=now + timedelta(hours=1)
        )
        for i in range(FEED_PAGE + 5)
    ]
    await db.add(*events)
    feed: RevocationFeed = resource_app.state.revocation_feed

    assert await asyncio.wait_for(feed.poll(), timeout=10)

    for value in ("g00000", f"g{FEED_PAGE - 1:05d}", f"g{FEED_PAGE + 4:05d}"):
        claims = AccessTokenClaims(
            iss=ISSUER, sub="u", aud=AUDIENCE, client_id="c", iat=0, exp=0, jti="j", grant_id=value
        )
        assert feed.revocations.is_revoked(claims)


# --- (d) What the dashboard shows (deploy/grafana) ---


async def test_a_revocation_that_arrives_is_measured_and_the_key_set_fetch_counted(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    tokens: dict[str, Any],
    resource_app: FastAPI,
    resource_client: httpx.AsyncClient,
) -> None:
    registry = resource_app.state.metrics.registry
    assert (await call_api(resource_client, tokens["access_token"])).status_code == 200
    assert registry.get_sample_value("revocation_propagation_seconds_count") == 0

    await revoke(auth_client, confidential_client, tokens["access_token"], "access_token")
    await refused_within(resource_client, tokens["access_token"], 5.0)
    exposed = (await resource_client.get("/metrics")).text

    assert registry.get_sample_value("revocation_propagation_seconds_count") == 1
    # Within the poll interval (the clocks of both apps run alike here).
    assert 0 <= registry.get_sample_value("revocation_propagation_seconds_sum") < 5
    assert 'jwks_refreshes_total{result="ok"}' in exposed
    assert (registry.get_sample_value("jwks_refreshes_total", {"result": "ok"}) or 0) >= 1


async def test_audit_events_are_counted_by_name_for_the_dashboard(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    page = await auth_client.get("/login")
    await auth_client.post("/login", data={
        "username": user.user.username, "password": "not the password",
        "csrf_token": csrf_from(page.text), "request_id": "", "next": "",
    })  # fmt: skip

    exposed = (await auth_client.get("/metrics")).text
    assert 'audit_events_total{event="login_failed"} 1.0' in exposed
