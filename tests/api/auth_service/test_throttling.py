"""Brute force and abuse: 429 with Retry-After for login, client authentication and token requests
(issue 5, "Brute force and abuse"; issue 13, "Throttling: stop the attacker, not the office";
RFC 6585 §4; RFC 6749 §4.1.2.1 temporarily_unavailable). The sign-in policy's own tests are in
test_throttling_sign_in.py and test_throttling_second_factor.py."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import ValidationError

from auth_service.config import AuthSettings
from auth_service.main import create_app as create_auth_app
from auth_service.throttling.counters import RedisCounterStore
from shared.models import AuditEvent, SigningKey, UserSession
from tests.factories import TestClient, TestUser, make_client, make_user
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import csrf_from, login
from tests.support.lifecycle import client_credentials, password_grant
from tests.support.pages import SESSION_COOKIE
from tests.support.portal import browser, page_error
from tests.support.services import require_redis
from tests.support.throttle_clock import ManualMonotonic, manual_throttle_clock

LOGIN_FAILED = "The username or password is not right."
WRONG = "not the password"  # noqa: S105 - test credential
OTHER_IP = "10.0.0.2"


def too_many(seconds: int) -> str:
    return f"too many attempts, try again in {seconds} s"


@pytest.fixture
def setting_overrides() -> dict[str, Any]:
    """Parametrize with AuthSettings fields to change for one test."""
    return {}


@pytest.fixture
def settings(settings: AuthSettings, setting_overrides: dict[str, Any]) -> AuthSettings:
    return settings.model_copy(update=setting_overrides)


@pytest.fixture
def throttle_clock(auth_app: FastAPI) -> ManualMonotonic:
    return manual_throttle_clock(auth_app)


@pytest.fixture
async def machine(db: Database) -> TestClient:
    return await make_client(db, grant_types=["client_credentials"], scope="read:notes")


@pytest.fixture
async def other_machine(db: Database) -> TestClient:
    return await make_client(db, grant_types=["client_credentials"], scope="read:notes")


def assert_login_throttled(response: httpx.Response, seconds: int) -> None:
    """The HTML login page again, with the wait in the message and in Retry-After."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["retry-after"] == str(seconds)
    unit = "second" if seconds == 1 else "seconds"
    assert page_error(response) == f"Too many attempts. Try again in {seconds} {unit}."
    assert 'name="password"' in response.text
    assert SESSION_COOKIE not in response.cookies


async def fail_logins(auth: httpx.AsyncClient, user: TestUser, times: int) -> None:
    for _ in range(times):
        response = await login(auth, user, password=WRONG)
        assert response.status_code == 400, response.text
        assert page_error(response) == LOGIN_FAILED


async def bad_client_auth(auth: httpx.AsyncClient, client: TestClient) -> httpx.Response:
    return await auth.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.client_id, "wrong-secret"),
    )


# --- Login per account and IP: a growing delay, never a lock ---


async def test_login_after_repeated_failures_returns_429_with_retry_after_even_for_right_password(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    settings: AuthSettings,
    throttle_clock: ManualMonotonic,
) -> None:
    await fail_logins(auth_client, user, settings.failures_before_delay)

    response = await login(auth_client, user)

    assert_login_throttled(response, 1)
    assert await db.count(UserSession) == 0
    (event,) = await db.all(AuditEvent, AuditEvent.event == "login_throttled")
    assert event.details == {"details": too_many(1)}
    assert len(await db.all(AuditEvent, AuditEvent.event == "login_failed")) == 3


async def test_login_delay_doubles_with_each_further_failure(
    auth_client: httpx.AsyncClient,
    user: TestUser,
    settings: AuthSettings,
    throttle_clock: ManualMonotonic,
) -> None:
    await fail_logins(auth_client, user, settings.failures_before_delay)
    waits = []
    for _ in range(4):
        response = await login(auth_client, user, password=WRONG)
        assert response.status_code == 429
        waits.append(int(response.headers["retry-after"]))
        throttle_clock.advance(waits[-1])
        await fail_logins(auth_client, user, 1)

    assert waits == [1, 2, 4, 8]


@pytest.mark.parametrize("setting_overrides", [{"max_failure_delay": 3}])
async def test_login_delay_is_capped_at_max_failure_delay(
    auth_client: httpx.AsyncClient, user: TestUser, throttle_clock: ManualMonotonic
) -> None:
    await fail_logins(auth_client, user, 3)
    waits = []
    for _ in range(4):
        response = await login(auth_client, user, password=WRONG)
        waits.append(int(response.headers["retry-after"]))
        throttle_clock.advance(waits[-1])
        await fail_logins(auth_client, user, 1)

    assert waits == [1, 2, 3, 3]


async def test_login_delay_ends_and_right_password_then_logs_in_and_resets_the_count(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    throttle_clock: ManualMonotonic,
) -> None:
    await fail_logins(auth_client, user, 3)
    assert (await login(auth_client, user)).status_code == 429

    throttle_clock.advance(1)
    response = await login(auth_client, user)

    assert response.status_code == 303
    assert await db.count(UserSession) == 1
    # Success forgets the failures: three more are needed before the next delay.
    await fail_logins(auth_client, user, 2)
    assert (await login(auth_client, user, password=WRONG)).status_code == 400


async def test_login_failures_are_forgotten_after_failure_memory(
    auth_client: httpx.AsyncClient,
    user: TestUser,
    settings: AuthSettings,
    throttle_clock: ManualMonotonic,
) -> None:
    await fail_logins(auth_client, user, 2)
    throttle_clock.advance(settings.failure_memory)

    await fail_logins(auth_client, user, 2)

    assert (await login(auth_client, user, password=WRONG)).status_code == 400


async def test_login_delay_is_per_account_so_another_address_waits_too(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    throttle_clock: ManualMonotonic,
) -> None:
    # Issue 13: keyed by account and address, every new address got fresh tries. The owner's
    # known browser is let through by its device cookie (test_throttling_sign_in.py).
    await fail_logins(auth_client, user, 3)

    async with browser(auth_app, ip=OTHER_IP) as elsewhere:
        response = await login(elsewhere, user)

    assert_login_throttled(response, 1)
    assert await db.count(UserSession) == 0


async def test_login_throttle_of_one_account_does_not_slow_another_from_the_same_ip(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, throttle_clock: ManualMonotonic
) -> None:
    other = await make_user(db)
    await fail_logins(auth_client, user, 3)
    assert (await login(auth_client, user)).status_code == 429

    response = await login(auth_client, other)

    assert response.status_code == 303


async def test_login_throttle_key_ignores_username_case(
    auth_client: httpx.AsyncClient, user: TestUser, throttle_clock: ManualMonotonic
) -> None:
    await fail_logins(auth_client, user, 3)
    page = await auth_client.get("/login")

    response = await auth_client.post(
        "/login",
        data={
            "username": f" {user.username.upper()} ",
            "password": user.password,
            "csrf_token": csrf_from(page.text),
        },
    )

    assert_login_throttled(response, 1)


async def test_password_grant_shares_the_login_delay(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, throttle_clock: ManualMonotonic
) -> None:
    first_party = await make_client(
        db, grant_types=["password"], is_first_party=True, scope="profile"
    )
    await fail_logins(auth_client, user, 3)

    response = await password_grant(
        auth_client, first_party, username=user.username, password=user.password
    )

    assert_oauth_error(response, "temporarily_unavailable", status=429, description=too_many(1))
    assert response.headers["retry-after"] == "1"


# --- Login per IP: a fixed window ---


@pytest.mark.parametrize("setting_overrides", [{"login_limit_per_ip": 3}])
async def test_login_beyond_limit_per_ip_returns_429_whoever_logs_in(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    settings: AuthSettings,
    throttle_clock: ManualMonotonic,
) -> None:
    users = [await make_user(db) for _ in range(4)]
    for person in users[:3]:
        assert (await login(auth_client, person)).status_code == 303

    response = await login(auth_client, users[3])

    assert_login_throttled(response, int(settings.login_limit_window))
    async with browser(auth_app, ip=OTHER_IP) as elsewhere:
        assert (await login(elsewhere, users[3])).status_code == 303
    throttle_clock.advance(settings.login_limit_window)
    assert (await login(auth_client, users[3])).status_code == 303


# --- Client authentication at the token endpoint ---


async def test_token_client_auth_one_failure_then_right_secret_is_200(
    auth_client: httpx.AsyncClient, machine: TestClient
) -> None:
    # Below the delay threshold a wrong secret must not affect the next request (RFC 6749 §5.2:
    # the failure is a 401 for that request only, never a 500 for the next one).
    assert_oauth_error(await bad_client_auth(auth_client, machine), "invalid_client", status=401)

    response = await client_credentials(auth_client, machine)

    assert response.status_code == 200, response.text


async def test_token_client_auth_failures_throttle_that_client_and_ip(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    machine: TestClient,
    other_machine: TestClient,
    throttle_clock: ManualMonotonic,
) -> None:
    for _ in range(3):
        assert_oauth_error(
            await bad_client_auth(auth_client, machine), "invalid_client", status=401
        )

    response = await client_credentials(auth_client, machine)

    assert_oauth_error(response, "temporarily_unavailable", status=429, description=too_many(1))
    assert response.headers["retry-after"] == "1"
    assert "www-authenticate" not in response.headers
    # Another client from the same address, and this client from another, are not slowed.
    assert (await client_credentials(auth_client, other_machine)).status_code == 200
    async with browser(auth_app, ip=OTHER_IP) as elsewhere:
        assert (await client_credentials(elsewhere, machine)).status_code == 200
    throttle_clock.advance(1)
    assert (await client_credentials(auth_client, machine)).status_code == 200


@pytest.mark.parametrize("setting_overrides", [{"unknown_client_limit_per_ip": 3}])
async def test_token_client_auth_failures_for_unknown_client_are_throttled_too(
    auth_client: httpx.AsyncClient, throttle_clock: ManualMonotonic
) -> None:
    # Unknown ids are limited per address (a window), not per id (no delay keys for made-up ids).
    data = {"grant_type": "client_credentials"}
    for _ in range(3):
        response = await auth_client.post("/oauth/token", data=data, auth=("ghost", "x"))
        assert_oauth_error(response, "invalid_client", status=401)

    response = await auth_client.post("/oauth/token", data=data, auth=("ghost", "x"))

    assert_oauth_error(response, "temporarily_unavailable", status=429)


@pytest.mark.parametrize("setting_overrides", [{"token_limit_per_client": 2}])
async def test_token_requests_beyond_limit_per_client_return_429(
    auth_client: httpx.AsyncClient,
    machine: TestClient,
    other_machine: TestClient,
    throttle_clock: ManualMonotonic,
) -> None:
    for _ in range(2):
        assert (await client_credentials(auth_client, machine)).status_code == 200

    response = await client_credentials(auth_client, machine)

    assert_oauth_error(response, "temporarily_unavailable", status=429, description=too_many(60))
    assert response.headers["retry-after"] == "60"
    assert (await client_credentials(auth_client, other_machine)).status_code == 200
    throttle_clock.advance(60)
    assert (await client_credentials(auth_client, machine)).status_code == 200


async def public_token_request(auth: httpx.AsyncClient, client: TestClient) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": client.client_id}
    return await auth.post("/oauth/token", data=data)


@pytest.mark.parametrize("setting_overrides", [{"token_limit_per_client": 2}])
async def test_public_client_token_budget_is_per_client_and_address(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    throttle_clock: ManualMonotonic,
) -> None:
    # Issue 13: a public client proves nothing, so a budget per client id alone let anyone
    # spend it and lock out every user of the app.
    app = await make_client(db, is_public=True)
    for _ in range(2):
        assert_oauth_error(await public_token_request(auth_client, app), "invalid_grant")

    refused = await public_token_request(auth_client, app)

    assert_oauth_error(refused, "temporarily_unavailable", status=429, description=too_many(60))
    async with browser(auth_app, ip=OTHER_IP) as other_user:
        assert_oauth_error(await public_token_request(other_user, app), "invalid_grant")
    # An IPv6 /64 is one address: another host in it shares the budget.
    async with (
        browser(auth_app, ip="2001:db8:5:6::1") as first,
        browser(auth_app, ip="2001:db8:5:6::2") as neighbour,
    ):
        for _ in range(2):
            assert_oauth_error(await public_token_request(first, app), "invalid_grant")
        assert_oauth_error(
            await public_token_request(neighbour, app), "temporarily_unavailable", status=429
        )


@pytest.mark.parametrize("setting_overrides", [{"token_limit_per_client": 2}])
async def test_confidential_client_token_budget_is_per_client_from_every_address(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    machine: TestClient,
    throttle_clock: ManualMonotonic,
) -> None:
    for _ in range(2):
        assert (await client_credentials(auth_client, machine)).status_code == 200

    async with browser(auth_app, ip=OTHER_IP) as elsewhere:
        response = await client_credentials(elsewhere, machine)

    assert_oauth_error(response, "temporarily_unavailable", status=429)


# --- Switched off ---


@pytest.mark.parametrize(
    "setting_overrides",
    [
        {
            "rate_limits_enabled": False,
            "login_limit_per_ip": 1,
            "failures_before_delay": 1,
            "token_limit_per_client": 1,
            "signup_limit_per_ip": 1,
        }
    ],
)
async def test_rate_limits_disabled_never_answer_429(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, machine: TestClient
) -> None:
    await fail_logins(auth_client, user, 5)
    assert (await login(auth_client, user)).status_code == 303
    for _ in range(3):
        assert_oauth_error(
            await bad_client_auth(auth_client, machine), "invalid_client", status=401
        )
    for _ in range(3):
        assert (await client_credentials(auth_client, machine)).status_code == 200


# --- Production settings ---


@pytest.mark.parametrize(
    ("signup_enabled", "registration_open"),
    [(True, False), (False, True), (True, True)],
    ids=["signup", "open-registration", "both"],
)
def test_production_settings_refuse_open_signup_or_registration_without_rate_limits(
    tmp_path: Path, signup_enabled: bool, registration_open: bool
) -> None:
    with pytest.raises(ValidationError) as refused:
        AuthSettings(
            _env_file=None,  # type: ignore[call-arg]
            environment="production",
            issuer="https://auth.example",
            key_dir=tmp_path,
            signup_enabled=signup_enabled,
            registration_open=registration_open,
            rate_limits_enabled=False,
        )

    assert "open sign-up or registration needs AUTH_RATE_LIMITS_ENABLED=true" in str(refused.value)


def test_production_settings_allow_no_rate_limits_when_nothing_is_open(tmp_path: Path) -> None:
    settings = AuthSettings(
        _env_file=None,  # type: ignore[call-arg]
        environment="production",
        issuer="https://auth.example",
        key_dir=tmp_path,
        signup_enabled=False,
        registration_open=False,
        rate_limits_enabled=False,
    )

    assert settings.throttle_policy().enabled is False


def test_production_settings_refuse_open_registration_with_an_initial_token(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValidationError, match="not both"):
        AuthSettings(
            _env_file=None,  # type: ignore[call-arg]
            environment="production",
            issuer="https://auth.example",
            key_dir=tmp_path,
            registration_open=True,
            registration_initial_access_token="x" * 32,
        )


@pytest.mark.parametrize("value", ["*", "10.0.0.1, *", " * "])
def test_settings_refuse_forwarded_allow_ips_star(value: str) -> None:
    with pytest.raises(ValidationError) as refused:
        AuthSettings(_env_file=None, forwarded_allow_ips=value)  # type: ignore[call-arg]

    assert "AUTH_FORWARDED_ALLOW_IPS=* would believe any client's X-Forwarded-For" in str(
        refused.value
    )


def test_settings_accept_named_proxies() -> None:
    settings = AuthSettings(
        _env_file=None,  # type: ignore[call-arg]
        forwarded_allow_ips="10.0.0.1,172.28.0.0/24",
    )

    assert settings.forwarded_allow_ips == "10.0.0.1,172.28.0.0/24"


def test_default_limits_let_an_office_sign_in_and_bound_each_account() -> None:
    """The numbers the README promises (issue 13)."""
    policy = AuthSettings(_env_file=None).throttle_policy()  # type: ignore[call-arg]

    assert policy.login_per_ip.count / policy.login_per_ip.seconds >= 50
    assert policy.authorize_per_ip.count / policy.authorize_per_ip.seconds >= 50
    account = policy.login_account
    # Free failures, one per wait while it doubles, then one per capped wait.
    doubling = sum(1 for n in range(30) if 2.0**n < account.max_delay)
    assert account.free + doubling + 3600 / account.max_delay <= 100  # ASVS 5.0 V6.3.1
    assert account.memory > account.max_delay
    # Second factor, per account: a day's guesses at a 6-digit code stay in the tens.
    second = policy.second_factor_account
    doubling = sum(1 for n in range(30) if 2.0**n < second.max_delay)
    assert second.free + doubling + 86400 / second.max_delay <= 60
    assert second.memory > second.max_delay  # the count outlives the longest wait
    assert policy.known_account_memory >= 7 * 86400


# --- Several instances sharing Redis ---


def _digest(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


async def _forget(redis_url: str, identities: list[str]) -> None:
    """Delete this test's counters only: other runs may share database 15."""
    client = aioredis.from_url(redis_url)
    try:
        for identity in identities:
            async for name in client.scan_iter(match=f"myauth:rl:*:{_digest(identity)}"):
                await client.delete(name)
    finally:
        await client.aclose()


def _random_ip() -> str:
    return "10.{}.{}.{}".format(*secrets.token_bytes(3))


@pytest.fixture
def client_ips() -> tuple[str, str]:
    """Addresses of this test's own, so its counters never meet another run's."""
    return _random_ip(), _random_ip()


@pytest.fixture
async def two_apps(
    settings: AuthSettings,
    db: Database,
    signing_key: SigningKey,
    clock: TestClock,
    user: TestUser,
    client_ips: tuple[str, str],
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    redis_url = require_redis()
    shared = settings.model_copy(update={"redis_url": redis_url})
    identities = [
        *client_ips,
        user.username.lower(),
        *(f"{ip}|{user.username.lower()}" for ip in client_ips),
    ]
    await _forget(redis_url, identities)
    first, second = create_auth_app(shared, clock=clock), create_auth_app(shared, clock=clock)
    try:
        async with LifespanManager(first), LifespanManager(second):
            yield first, second
    finally:
        await _forget(redis_url, identities)


async def test_login_throttle_is_shared_by_instances_on_redis(
    two_apps: tuple[FastAPI, FastAPI], user: TestUser, client_ips: tuple[str, str]
) -> None:
    first, second = two_apps
    attacker_ip, user_ip = client_ips
    assert isinstance(first.state.throttle.store, RedisCounterStore)
    assert isinstance(second.state.throttle.store, RedisCounterStore)
    async with browser(first, ip=user_ip) as owner:
        assert (await login(owner, user)).status_code == 303  # the owner's browser, known now
        async with browser(first, ip=attacker_ip) as on_first:
            await fail_logins(on_first, user, 3)

        # The account's wait holds on the other instance, from the other address too ...
        async with browser(second, ip=attacker_ip) as on_second:
            assert_login_throttled(await login(on_second, user), 1)
        async with browser(second, ip=user_ip) as new_browser:
            assert_login_throttled(await login(new_browser, user), 1)
        # ... while the owner's known browser signs in there (same key directory, same cookie).
        async with browser(second, ip=user_ip) as owner_on_second:
            owner_on_second.cookies = owner.cookies
            assert (await login(owner_on_second, user)).status_code == 303


async def test_redis_store_acquire_is_exclusive_and_decr_never_creates_a_key() -> None:
    store = RedisCounterStore(require_redis())
    name = f"test-{secrets.token_hex(8)}"
    try:
        assert await store.acquire(name, 5) is True
        assert await store.acquire(name, 5) is False
        assert 4 < await store.blocked_for(name) <= 5
        assert await store.incr(name + "-n", 5, extend=False) == 1
        assert await store.incr(name + "-n", 5, extend=False) == 2
        await store.decr(name + "-n")
        assert await store.incr(name + "-n", 5, extend=False) == 2

        await store.decr(name + "-missing")

        assert await store.blocked_for(name + "-missing") == 0.0
        assert await store.incr(name + "-missing", 5, extend=False) == 1
    finally:
        await store.delete(name, name + "-n", name + "-missing")
        await store.aclose()
