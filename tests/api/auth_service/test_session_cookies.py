"""The session and browser cookies on an https issuer (`__Host-` prefix), and sessions' idle
timeout beside their absolute one (issue 13, part 7; RFC 6265bis section 4.1.3.2; OWASP Session
Management Cheat Sheet; ASVS 5.0 V7.3.1, V7.3.2)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.main import create_app
from shared.models import SigningKey, UserSession
from tests.factories import TestUser
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import csrf_from, login
from tests.support.pages import BROWSER_COOKIE, SESSION_COOKIE, set_cookie, sha256_hex, sign_in

HTTPS_ISSUER = "https://auth.test"
HOST_SESSION = f"__Host-{SESSION_COOKIE}"
HOST_BROWSER = f"__Host-{BROWSER_COOKIE}"


@pytest.fixture
async def https_app(
    settings: AuthSettings, db: Database, signing_key: SigningKey, clock: TestClock
) -> AsyncIterator[FastAPI]:
    app = create_app(settings.model_copy(update={"issuer": HTTPS_ISSUER}), clock=clock)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def https_client(https_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=https_app)
    async with httpx.AsyncClient(transport=transport, base_url=HTTPS_ISSUER) as client:
        yield client


def assert_host_only_cookie(cookie: dict[str, str]) -> None:
    """What a browser requires of a `__Host-` cookie: Secure, Path=/, no Domain."""
    assert cookie["secure"] == "True"
    assert cookie["path"] == "/"
    assert "domain" not in cookie
    assert cookie["httponly"] == "True"
    assert cookie["samesite"].lower() == "lax"


# --- __Host- cookies on an https issuer ---


async def test_https_issuer_login_sets_host_prefixed_session_and_browser_cookies(
    db: Database, https_client: httpx.AsyncClient, user: TestUser
) -> None:
    page = await https_client.get("/login")
    browser_cookie = set_cookie(page, HOST_BROWSER)
    assert_host_only_cookie(browser_cookie)
    assert BROWSER_COOKIE not in {c.name for c in https_client.cookies.jar}

    response = await https_client.post(
        "/login",
        data={
            "username": user.username,
            "password": user.password,
            "csrf_token": csrf_from(page.text),
        },
    )

    assert response.status_code == 303, response.text
    session_cookie = set_cookie(response, HOST_SESSION)
    assert_host_only_cookie(session_cookie)
    assert [s.id_hash for s in await db.all(UserSession)] == [sha256_hex(session_cookie["value"])]
    assert (await https_client.get("/account")).status_code == 200


async def test_https_issuer_ignores_an_unprefixed_session_cookie(
    https_app: FastAPI, https_client: httpx.AsyncClient, user: TestUser
) -> None:
    """A cookie without the prefix could have been planted by a sibling host or over http."""
    assert (await login(https_client, user)).status_code == 303
    value = https_client.cookies[HOST_SESSION]
    transport = httpx.ASGITransport(app=https_app)
    async with httpx.AsyncClient(transport=transport, base_url=HTTPS_ISSUER) as planted:
        planted.cookies.set(SESSION_COOKIE, value)

        response = await planted.get("/account")

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account"


async def test_https_issuer_logout_clears_the_prefixed_session_cookie(
    db: Database, https_client: httpx.AsyncClient, user: TestUser
) -> None:
    assert (await login(https_client, user)).status_code == 303
    page = await https_client.get("/logout")

    response = await https_client.post("/logout", data={"csrf_token": csrf_from(page.text)})

    assert response.status_code == 200, response.text
    cleared = set_cookie(response, HOST_SESSION)
    assert (cleared["value"], cleared["max-age"]) == ("", "0")
    assert_host_only_cookie(cleared)
    assert await db.count(UserSession) == 0


async def test_http_issuer_keeps_the_plain_cookie_names(
    auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    """Development on http cannot set Secure cookies, so no prefix there."""
    response = await login(auth_client, user)

    assert set_cookie(response, SESSION_COOKIE)["secure"] == "False"
    assert HOST_SESSION not in auth_client.cookies


# --- Idle timeout beside the absolute one ---


async def session_row(db: Database, cookie_value: str) -> UserSession | None:
    return await db.get(UserSession, sha256_hex(cookie_value))


async def test_session_unused_for_the_idle_timeout_ends(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    value = await sign_in(auth_client, user)
    row = await session_row(db, value)
    assert row is not None
    # A new session lasts the idle timeout, well inside its absolute lifetime.
    assert row.expires_at - row.created_at == timedelta(seconds=settings.session_idle_timeout)

    clock.advance(settings.session_idle_timeout + 1)
    response = await auth_client.get("/account")

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account"


async def test_session_in_use_moves_its_idle_end_on_up_to_the_absolute_limit(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    value = await sign_in(auth_client, user)
    row = await session_row(db, value)
    assert row is not None
    created, step = row.created_at, settings.session_idle_timeout - 60
    absolute_end = created + timedelta(seconds=settings.session_ttl)

    # Used a little before each idle end: it lives on, its end moved to an idle window from now.
    while clock() + timedelta(seconds=step) < absolute_end:
        clock.advance(step)
        assert (await auth_client.get("/account")).status_code == 200
        row = await session_row(db, value)
        assert row is not None
        expected = min(clock() + timedelta(seconds=settings.session_idle_timeout), absolute_end)
        assert abs(row.expires_at - expected) < timedelta(seconds=5)

    # However busy, it ends at the absolute limit.
    clock.advance((absolute_end - clock()).total_seconds() + 1)
    response = await auth_client.get("/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account"


async def test_session_idle_timeout_is_a_setting(
    settings: AuthSettings, db: Database, signing_key: SigningKey, clock: TestClock, user: TestUser
) -> None:
    app = create_app(settings.model_copy(update={"session_idle_timeout": 600}), clock=clock)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=settings.issuer) as auth:
            value = await sign_in(auth, user)
            row = await session_row(db, value)
            assert row is not None
            assert row.expires_at - row.created_at == timedelta(seconds=600)
            # The test clock runs on in real time too, so the steps leave a minute's margin:
            # the second use, 1,080 s after sign-in, is alive only because the first moved its end.
            clock.advance(540)
            assert (await auth.get("/account")).status_code == 200
            clock.advance(540)
            assert (await auth.get("/account")).status_code == 200
            clock.advance(601)
            assert (await auth.get("/account")).status_code == 303
