"""Throttling against real uvicorn processes over real HTTP with the default limits (issue 13):
hundreds of sign-ins from one address succeed; one account attacked from many addresses (told
by a trusted proxy's X-Forwarded-For) is slowed while its owner's known browser signs in."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.databases import fresh_database
from tests.support.flows import csrf_from
from tests.support.live import LiveStack, live_stack

pytestmark = pytest.mark.e2e
USERNAME, PASSWORD = "alice", "alice-password-1"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as live:
        live.cli("users", "create", "--username", USERNAME, "--password", PASSWORD,
                 "--email", "alice@example.com", "--name", "Alice")  # fmt: skip
        yield live


async def sign_in(
    browser: httpx.AsyncClient, password: str, *, address: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    page = await browser.get("/login", headers=headers)
    assert page.status_code == 200, page.text
    return await browser.post(
        "/login",
        data={"username": USERNAME, "password": password, "csrf_token": csrf_from(page.text)},
        headers=headers,
    )


async def test_live_hundreds_of_sign_ins_from_one_address_succeed_with_default_limits(
    stack: LiveStack,
) -> None:
    stack.start_auth()
    statuses = []
    async with httpx.AsyncClient(base_url=stack.issuer) as browser:
        for _ in range(300):  # a black-box suite: a fresh cookie jar each time, one address
            browser.cookies.clear()
            statuses.append((await sign_in(browser, PASSWORD)).status_code)

    assert statuses == [303] * 300


async def test_live_account_attacked_through_a_trusted_proxy_spares_its_owners_browser(
    stack: LiveStack,
) -> None:
    stack.start_auth_served(AUTH_FORWARDED_ALLOW_IPS="127.0.0.1")
    owner_address = "198.51.100.20"
    async with httpx.AsyncClient(base_url=stack.issuer) as owner:
        assert (await sign_in(owner, PASSWORD, address=owner_address)).status_code == 303
        assert "myauth_device" in owner.cookies

        # Every attempt from a new address; the waits double until one is long enough to look.
        answers, bot = [], 0
        while True:
            bot += 1
            async with httpx.AsyncClient(base_url=stack.issuer) as attacker:
                response = await sign_in(
                    attacker, "guess", address=f"10.66.{bot // 250}.{bot % 250}"
                )
            answers.append(response.status_code)
            if response.status_code == 429:
                wait = int(response.headers["retry-after"])
                if wait >= 8:
                    break
                await asyncio.sleep(wait)
        async with httpx.AsyncClient(base_url=stack.issuer) as new_browser:
            stranger = await sign_in(new_browser, PASSWORD, address=owner_address)
        known = await sign_in(owner, PASSWORD, address=owner_address)

    assert answers[:3] == [400, 400, 400]
    assert answers.count(400) == 6  # 3 free, then one after each wait of 1, 2 and 4 s
    assert stranger.status_code == 429  # a browser the account never used waits too
    assert known.status_code == 303, known.text
    engine = create_async_engine(stack.database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT DISTINCT ip FROM audit_event WHERE event = 'login_failed'")
            )
            addresses = {row[0] for row in rows}
    finally:
        await engine.dispose()
    assert len(addresses) == 6 and all(a.startswith("10.66.") for a in addresses)
