"""Sign-in throttling that stops the attacker, not the office (issue 13; OWASP Authentication and
Credential Stuffing Prevention cheat sheets; ASVS 5.0 V6.3.1): per account across addresses, per
address by failures only, and device cookies that keep the owner's known browser signing in."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from shared.models import AuditEvent, UserSession
from tests.factories import TestUser, make_client, make_user
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, csrf_from, login
from tests.support.pages import set_cookie, sign_in
from tests.support.portal import browser, page_error
from tests.support.throttle_clock import ManualMonotonic, manual_throttle_clock

LOGIN_FAILED = "The username or password is not right."
WRONG = "not the password"  # noqa: S105 - test credential
DEVICE_COOKIE = "myauth_device"
OFFICE = "198.51.100.7"  # one address many people share


def random_ip() -> str:
    return "10.{}.{}.{}".format(*secrets.token_bytes(3))


@pytest.fixture
def setting_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(settings: AuthSettings, setting_overrides: dict[str, Any]) -> AuthSettings:
    return settings.model_copy(update=setting_overrides)


@pytest.fixture
def throttle_clock(auth_app: FastAPI) -> ManualMonotonic:
    return manual_throttle_clock(auth_app)


async def try_login(auth: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    page = await auth.get("/login")
    assert page.status_code == 200, page.text
    return await auth.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
    )


async def attack_from_new_address(
    app: FastAPI, username: str, password: str = WRONG
) -> httpx.Response:
    async with browser(app, ip=random_ip()) as bot:
        return await try_login(bot, username, password)


def assert_refused(response: httpx.Response) -> int:
    """The login page again with 429 and Retry-After; returns the wait."""
    assert response.status_code == 429, response.text
    assert 'name="password"' in response.text
    assert "myauth_session" not in response.cookies
    wait = int(response.headers["retry-after"])
    unit = "second" if wait == 1 else "seconds"
    assert page_error(response) == f"Too many attempts. Try again in {wait} {unit}."
    return wait


# --- An office behind one address ---


async def test_300_users_sign_in_from_one_address_within_a_minute_with_default_settings(
    db: Database, auth_app: FastAPI, settings: AuthSettings
) -> None:
    assert settings.login_limit_per_ip == AuthSettings.model_fields["login_limit_per_ip"].default
    client = await make_client(db)
    people = [await make_user(db) for _ in range(300)]
    answers = []
    for n, person in enumerate(people):
        async with browser(auth_app, ip=OFFICE) as own_browser:
            request = AuthorizationRequest(client)
            started = await own_browser.get(request.url())
            assert started.status_code == 303, started.text
            request_id = started.headers["location"].split("request_id=")[1]
            if n % 15 == 0:  # now and then someone mistypes first: 20 failures in all
                typo = await login(own_browser, person, request_id=request_id, password=WRONG)
                assert typo.status_code == 400, typo.text
            answers.append(await login(own_browser, person, request_id=request_id))

    assert [a.status_code for a in answers] == [303] * 300
    assert all(a.headers["location"].startswith("/consent?request_id=") for a in answers)
    assert await db.count(UserSession) == 300
    assert await db.all(AuditEvent, AuditEvent.event == "login_throttled") == []


# --- A password sprayer over many accounts from one address ---


async def test_password_sprayer_from_one_address_is_slowed_then_refused(
    db: Database, auth_app: FastAPI, settings: AuthSettings, throttle_clock: ManualMonotonic
) -> None:
    victims = [f"victim{n}" for n in range(settings.ip_failed_username_limit)]
    answers: list[int] = []
    waits: list[int] = []
    async with browser(auth_app, ip=OFFICE) as sprayer:
        for victim in victims:
            while (response := await try_login(sprayer, victim, "Summer2026!")).status_code == 429:
                waits.append(assert_refused(response))
                throttle_clock.advance(waits[-1])
            answers.append(response.status_code)
        refused = await try_login(sprayer, "one-more", "Summer2026!")

    # Slowed: past the free failures each one doubles the wait, up to the cap ...
    assert answers == [400] * settings.ip_failed_username_limit
    free = settings.ip_failures_before_delay
    assert waits[:7] == [1, 2, 4, 8, 16, 32, int(settings.max_failure_delay)]
    assert len(waits) == settings.ip_failed_username_limit - free
    # ... then refused for the rest of the window, however long it waits between tries.
    refused_for = assert_refused(refused)
    assert refused_for > 30 * 60
    throttle_clock.advance(settings.max_failure_delay)
    async with browser(auth_app, ip=OFFICE) as newcomer:
        assert_refused(await login(newcomer, await make_user(db)))
    # Another address is not slowed at all.
    async with browser(auth_app, ip=random_ip()) as elsewhere:
        assert (await login(elsewhere, await make_user(db))).status_code == 303


async def test_password_sprayer_leaves_known_browsers_at_its_address_signing_in(
    auth_app: FastAPI, settings: AuthSettings, user: TestUser, throttle_clock: ManualMonotonic
) -> None:
    async with browser(auth_app, ip=OFFICE) as colleague:
        await sign_in(colleague, user)
        async with browser(auth_app, ip=OFFICE) as sprayer:
            for n in range(settings.ip_failures_before_delay):
                assert (await try_login(sprayer, f"victim{n}", WRONG)).status_code == 400
            assert_refused(await try_login(sprayer, "victim-next", WRONG))

        response = await login(colleague, user)

    assert response.status_code == 303, response.text


async def test_password_sprayer_does_not_hold_accounts_that_signed_in_from_its_address_before(
    db: Database, auth_app: FastAPI, settings: AuthSettings, throttle_clock: ManualMonotonic
) -> None:
    """A regular of the office who signed in there before gets past the address's refusal even
    from a browser with no cookies at all (a new laptop, a script); a newcomer does not."""
    regular, newcomer = await make_user(db), await make_user(db)
    async with browser(auth_app, ip=OFFICE) as last_week:
        assert (await login(last_week, regular)).status_code == 303
    async with browser(auth_app, ip=OFFICE) as sprayer:
        for n in range(settings.ip_failed_username_limit):
            while (response := await try_login(sprayer, f"victim{n}", WRONG)).status_code == 429:
                throttle_clock.advance(assert_refused(response))
        assert assert_refused(await try_login(sprayer, "one-more", WRONG)) > 30 * 60

    async with browser(auth_app, ip=OFFICE) as fresh_laptop:
        assert (await login(fresh_laptop, regular)).status_code == 303
    async with browser(auth_app, ip=OFFICE) as first_day:
        assert_refused(await login(first_day, newcomer))
    # The regular's own account still counts its failures: the exemption is from the address.
    async with browser(auth_app, ip=OFFICE) as guesser:
        for _ in range(settings.failures_before_delay):
            assert (await try_login(guesser, regular.username, WRONG)).status_code == 400
        assert_refused(await try_login(guesser, regular.username, WRONG))


# --- One account attacked from many addresses ---


async def test_account_attacked_from_many_addresses_is_slowed_from_every_address(
    auth_app: FastAPI, settings: AuthSettings, user: TestUser, throttle_clock: ManualMonotonic
) -> None:
    for _ in range(settings.failures_before_delay):
        assert (await attack_from_new_address(auth_app, user.username)).status_code == 400

    # A fresh address gets no fresh tries, not even with the right password or another spelling.
    assert assert_refused(await attack_from_new_address(auth_app, user.username)) == 1
    assert_refused(await attack_from_new_address(auth_app, f" {user.username.upper()}"))
    assert_refused(await attack_from_new_address(auth_app, user.username, user.password))
    throttle_clock.advance(1)
    assert (await attack_from_new_address(auth_app, user.username)).status_code == 400
    assert assert_refused(await attack_from_new_address(auth_app, user.username)) == 2


async def test_account_attack_gets_at_most_about_100_failures_an_hour_and_never_a_lock(
    auth_app: FastAPI, settings: AuthSettings, user: TestUser, throttle_clock: ManualMonotonic
) -> None:
    started, failures = throttle_clock.now, 0
    while throttle_clock.now - started < 3600:
        response = await attack_from_new_address(auth_app, user.username)
        if response.status_code == 429:
            throttle_clock.advance(assert_refused(response))
        else:
            assert response.status_code == 400
            failures += 1

    assert 50 <= failures <= 100  # ASVS 5.0 V6.3.1
    throttle_clock.advance(settings.max_failure_delay)
    assert (
        await attack_from_new_address(auth_app, user.username, user.password)
    ).status_code == 303


async def test_account_attacked_from_many_addresses_still_lets_its_owners_known_browser_in(
    db: Database, auth_app: FastAPI, user: TestUser, throttle_clock: ManualMonotonic
) -> None:
    async with browser(auth_app, ip=random_ip()) as owner:
        await sign_in(owner, user)
        for _ in range(10):
            response = await attack_from_new_address(auth_app, user.username)
            throttle_clock.advance(0.5)
        assert_refused(response)

        again = await login(owner, user)

        assert again.status_code == 303, again.text
        assert again.headers["location"] == "/"
    # The owner's success is no success for the attack: its wait still runs.
    assert_refused(await attack_from_new_address(auth_app, user.username))
    # And the owner on a browser it never used waits like anyone else (the wait always ends).
    async with browser(auth_app, ip=random_ip()) as new_laptop:
        assert_refused(await login(new_laptop, user))


async def test_requests_sent_together_from_many_addresses_do_not_all_pass_the_wait(
    auth_app: FastAPI, settings: AuthSettings, user: TestUser, throttle_clock: ManualMonotonic
) -> None:
    bots = [browser(auth_app, ip=random_ip()) for _ in range(20)]
    try:
        forms = []
        for bot in bots:
            page = await bot.get("/login")
            forms.append({"username": user.username, "password": WRONG,
                          "csrf_token": csrf_from(page.text)})  # fmt: skip
        answers = await asyncio.gather(
            *(bot.post("/login", data=form) for bot, form in zip(bots, forms, strict=True))
        )
    finally:
        for bot in bots:
            await bot.aclose()

    statuses = [answer.status_code for answer in answers]
    assert statuses.count(400) <= settings.failures_before_delay, statuses
    assert statuses.count(429) >= len(bots) - settings.failures_before_delay


# --- Device cookies ---


async def test_sign_in_sets_a_long_lived_httponly_device_cookie_without_the_username(
    auth_client: httpx.AsyncClient, user: TestUser, settings: AuthSettings
) -> None:
    response = await login(auth_client, user)

    cookie = set_cookie(response, DEVICE_COOKIE)
    assert cookie["httponly"] == "True"
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == str(settings.device_cookie_ttl) == str(365 * 86400)
    assert user.username not in cookie["value"] and user.id not in cookie["value"]


async def test_failed_sign_in_sets_no_device_cookie(
    auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    response = await login(auth_client, user, password=WRONG)

    assert response.status_code == 400
    assert DEVICE_COOKIE not in response.cookies


@pytest.mark.parametrize("setting_overrides", [{"issuer": "https://auth.test"}])
async def test_device_cookie_under_https_is_a_secure_host_cookie(
    auth_app: FastAPI, user: TestUser
) -> None:
    transport = httpx.ASGITransport(app=auth_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://auth.test") as https:
        response = await login(https, user)

    cookie = set_cookie(response, "__Host-myauth_device")
    assert cookie["secure"] == "True"
    assert cookie["path"] == "/"
    assert "domain" not in cookie


async def test_device_cookie_is_honoured_only_for_the_account_it_was_issued_to(
    db: Database, auth_app: FastAPI, user: TestUser, throttle_clock: ManualMonotonic
) -> None:
    attacker = await make_user(db)
    async with browser(auth_app, ip=random_ip()) as own:
        await sign_in(own, attacker)  # the attacker's browser knows the attacker's account
        for _ in range(3):
            assert (await try_login(own, user.username, WRONG)).status_code == 400

        assert_refused(await try_login(own, user.username, WRONG))


async def test_device_cookie_used_in_failures_is_locked_out_and_waits_like_a_new_browser(
    auth_app: FastAPI, settings: AuthSettings, user: TestUser, throttle_clock: ManualMonotonic
) -> None:
    async with browser(auth_app, ip=random_ip()) as stolen:
        await sign_in(stolen, user)
        for _ in range(settings.failures_before_delay):
            await attack_from_new_address(auth_app, user.username)
        # With the device cookie the account's wait is skipped, until the cookie fails too often.
        for _ in range(settings.device_failure_limit):
            assert (await try_login(stolen, user.username, WRONG)).status_code == 400

        response = await try_login(stolen, user.username, user.password)

    assert_refused(response)
