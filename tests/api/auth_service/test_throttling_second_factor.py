"""The second step's throttle (issue 13): wrong codes slow the pending sign-in that sent them,
so whoever has the password cannot stall the owner's own second step; a higher ceiling per
account bounds guesses over many sign-ins, and the owner's known browser is not held by it
(OWASP Authentication cheat sheet; OWASP device cookies; RFC 6238 section 5.2)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from shared.models import UserSession
from tests.factories import TestUser
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import login
from tests.support.pages import sha256_hex
from tests.support.portal import browser, page_error
from tests.support.throttle_clock import ManualMonotonic, manual_throttle_clock
from tests.support.two_step import (
    Enrolment,
    enrol,
    start_next_step,
    submit_code,
    totp_code,
    wrong_code,
)

ATTACKER_IP = "203.0.113.66"
OWNER_IP = "198.51.100.20"


@pytest.fixture
def throttle_clock(auth_app: FastAPI) -> ManualMonotonic:
    return manual_throttle_clock(auth_app)


@pytest.fixture
async def owner(auth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The owner's browser (it has signed in before, so it holds the account's device cookie)."""
    async with browser(auth_app, ip=OWNER_IP) as own:
        yield own


@pytest.fixture
async def enrolled(
    owner: httpx.AsyncClient, user: TestUser, clock: TestClock, throttle_clock: ManualMonotonic
) -> Enrolment:
    assert (await login(owner, user)).status_code == 303
    return await enrol(owner, clock, user.password)


async def password_step(auth: httpx.AsyncClient, user: TestUser) -> None:
    response = await login(auth, user)
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/login/second-factor")


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert page_error(response).startswith("Too many attempts.")  # type: ignore[union-attr]


async def test_wrong_codes_from_the_attackers_sign_in_do_not_stall_the_owners_new_browser(
    db: Database,
    auth_app: FastAPI,
    user: TestUser,
    enrolled: Enrolment,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    async with browser(auth_app, ip=ATTACKER_IP) as attacker:
        await password_step(attacker, user)
        bad = wrong_code(enrolled.secret, clock())
        for _ in range(settings.failures_before_delay):
            assert (await submit_code(attacker, bad)).status_code == 400
        assert_refused(await submit_code(attacker, totp_code(enrolled.secret, clock())))

    async with browser(auth_app, ip=OWNER_IP) as new_laptop:  # no device cookie
        await password_step(new_laptop, user)
        done = await submit_code(new_laptop, totp_code(enrolled.secret, clock()))

    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/"


async def test_wrong_codes_over_many_sign_ins_hit_the_account_ceiling_but_not_the_known_browser(
    db: Database,
    auth_app: FastAPI,
    owner: httpx.AsyncClient,
    user: TestUser,
    enrolled: Enrolment,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    ceiling = settings.second_factor_account_failures_before_delay
    async with browser(auth_app, ip=ATTACKER_IP) as attacker:
        failures = 0
        while failures < ceiling:
            await password_step(attacker, user)  # a fresh pending sign-in: fresh free tries
            for _ in range(min(settings.failures_before_delay, ceiling - failures)):
                assert (
                    await submit_code(attacker, wrong_code(enrolled.secret, clock()))
                ).status_code == 400
                failures += 1
        await password_step(attacker, user)
        assert_refused(await submit_code(attacker, totp_code(enrolled.secret, clock())))

    async with browser(auth_app, ip=OWNER_IP) as new_laptop:
        await password_step(new_laptop, user)
        assert_refused(await submit_code(new_laptop, totp_code(enrolled.secret, clock())))

    # The owner's known browser is let through by its device cookie.
    await password_step(owner, user)
    done = await submit_code(owner, totp_code(enrolled.secret, clock()))
    assert done.status_code == 303, done.text
    session = await db.get(UserSession, sha256_hex(owner.cookies["myauth_session"]))
    assert session is not None and not session.second_factor_pending


async def test_second_step_success_renews_the_device_cookie(
    auth_app: FastAPI,
    owner: httpx.AsyncClient,
    user: TestUser,
    enrolled: Enrolment,
    clock: TestClock,
) -> None:
    await password_step(owner, user)
    start_next_step(clock)

    done = await submit_code(owner, totp_code(enrolled.secret, clock()))

    assert done.status_code == 303
    assert "myauth_device" in done.cookies
