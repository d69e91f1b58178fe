"""/account/sessions (issue 16): each signed-in browser with its device, address, start and
last use; signing out one of them or every other; and the mail after a sign-in from a browser
the account has not seen (real SMTP, the aiosmtpd catcher)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.main import create_app
from shared.models import AuditEvent, UserSession
from tests.factories import TestUser, make_user
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import csrf_from
from tests.support.mail import Catcher, text_of, with_mail
from tests.support.pages import sign_in
from tests.support.portal import browser, page_error

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
_HANDLE = re.compile(r'name="session" value="([0-9a-f]+)"')


@pytest.fixture
async def user(db: Database) -> TestUser:
    return await make_user(db, username="lin", email="lin@example.com")


@asynccontextmanager
async def signed_in_as(
    app: FastAPI, user: TestUser, *, agent: str, ip: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app, ip=ip) as client:
        client.headers["User-Agent"] = agent
        await sign_in(client, user)
        yield client


def handles(page: httpx.Response) -> list[str]:
    return _HANDLE.findall(page.text)


async def end(client: httpx.AsyncClient, action: str, **data: str) -> httpx.Response:
    page = await client.get("/account/sessions")
    return await client.post(action, data={**data, "csrf_token": csrf_from(page.text)})


async def test_the_page_lists_each_browser_with_its_device_address_and_times(
    db: Database, auth_app: FastAPI, user: TestUser
) -> None:
    async with (
        signed_in_as(auth_app, user, agent=IPHONE, ip="198.51.100.4") as phone,
        signed_in_as(auth_app, user, agent=FIREFOX, ip="203.0.113.8") as laptop,
    ):
        page = await laptop.get("/account/sessions")

        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        text = re.sub(r"\s+", " ", page.text)
        assert 'Firefox on Linux</strong> <span class="badge">this browser</span>' in text
        assert "Safari on iPhone</strong>" in text
        assert "From 198.51.100.4" in text and "From 203.0.113.8" in text
        assert text.index("Firefox on Linux") < text.index("Safari on iPhone")  # this one first
        rows = await db.all(UserSession, UserSession.user_id == user.id)
        assert {r.user_agent for r in rows} == {IPHONE, FIREFOX}
        assert all(r.id_hash not in page.text for r in rows)  # handles only
        assert len(handles(page)) == 2
        assert (await phone.get("/account")).status_code == 200


async def test_signing_out_another_browser_ends_it_and_keeps_this_one(
    db: Database, auth_app: FastAPI, user: TestUser
) -> None:
    async with (
        signed_in_as(auth_app, user, agent=IPHONE, ip="198.51.100.4") as phone,
        signed_in_as(auth_app, user, agent=FIREFOX, ip="203.0.113.8") as laptop,
    ):
        page = await laptop.get("/account/sessions")
        phone_handle = handles(page)[1]  # this browser is listed first

        ended = await end(laptop, "/account/sessions/end", session=phone_handle)

        assert ended.status_code == 303
        assert ended.headers["location"] == "/account/sessions?message=ended"
        assert (await phone.get("/account")).status_code == 303  # sent to sign in
        assert (await laptop.get("/account")).status_code == 200
        (left,) = await db.all(UserSession, UserSession.user_id == user.id)
        assert left.user_agent == FIREFOX
        (event,) = await db.all(AuditEvent, AuditEvent.event == "session_ended")
        assert (event.user_id, event.details) == (user.id, {"browser": "Safari on iPhone"})
        again = await end(laptop, "/account/sessions/end", session=phone_handle)
        assert again.headers["location"] == "/account/sessions?message=gone"


async def test_signing_out_every_other_browser(
    db: Database, auth_app: FastAPI, user: TestUser
) -> None:
    async with (
        signed_in_as(auth_app, user, agent=IPHONE, ip="198.51.100.4") as phone,
        signed_in_as(auth_app, user, agent=IPHONE, ip="198.51.100.5") as tablet,
        signed_in_as(auth_app, user, agent=FIREFOX, ip="203.0.113.8") as laptop,
    ):
        ended = await end(laptop, "/account/sessions/end-others")

        assert ended.headers["location"] == "/account/sessions?message=others-ended"
        assert [(await b.get("/account")).status_code for b in (phone, tablet, laptop)] == [
            303,
            303,
            200,
        ]
        page = await laptop.get(ended.headers["location"])
        assert "Every other browser is signed out." in page.text
        assert "Sign out every other browser" not in page.text


async def test_another_accounts_session_cannot_be_ended_and_the_forms_need_csrf(
    db: Database, auth_app: FastAPI, user: TestUser
) -> None:
    mallory = await make_user(db, username="mallory")
    async with (
        signed_in_as(auth_app, user, agent=IPHONE, ip="198.51.100.4") as victim,
        signed_in_as(auth_app, mallory, agent=FIREFOX, ip="203.0.113.8") as attacker,
    ):
        victims_handle = handles(await victim.get("/account/sessions"))[0]

        tried = await end(attacker, "/account/sessions/end", session=victims_handle)
        forged = await victim.post("/account/sessions/end-others", data={"csrf_token": "forged"})

        assert tried.headers["location"] == "/account/sessions?message=gone"
        assert (forged.status_code, page_error(forged)) == (
            400,
            "This form has expired. Please try again.",
        )
        assert (await victim.get("/account")).status_code == 200
    assert await db.count(UserSession, UserSession.user_id == user.id) == 1


async def test_last_use_moves_on_when_the_session_is_used(
    db: Database, auth_app: FastAPI, clock: TestClock, user: TestUser
) -> None:
    async with signed_in_as(auth_app, user, agent=FIREFOX, ip="203.0.113.8") as laptop:
        (before,) = await db.all(UserSession, UserSession.user_id == user.id)
        clock.advance(5 * 60)

        assert (await laptop.get("/account")).status_code == 200

        (after,) = await db.all(UserSession, UserSession.user_id == user.id)
        assert before.last_seen_at is not None and after.last_seen_at is not None
        assert 299 <= (after.last_seen_at - before.last_seen_at).total_seconds() <= 320


# --- Sign-in notices ---


@pytest.fixture
def notice_settings(settings: AuthSettings, catcher: Catcher) -> AuthSettings:
    return with_mail(settings, catcher, notices=True)


@pytest.mark.parametrize("notices", [True, False])
async def test_a_sign_in_from_a_new_browser_mails_a_notice_once(
    db: Database,
    notice_settings: AuthSettings,
    clock: TestClock,
    catcher: Catcher,
    user: TestUser,
    notices: bool,
) -> None:
    app = create_app(notice_settings.model_copy(update={"sign_in_notices": notices}), clock=clock)
    async with LifespanManager(app), browser(app, ip="203.0.113.8") as laptop:
        laptop.headers["User-Agent"] = FIREFOX
        await sign_in(laptop, user)
        if notices:
            (mail,) = await catcher.wait_for(1)
            assert mail["Subject"] == "New sign-in to your MyAuthProvider account"
            assert "Firefox on Linux, from 203.0.113.8" in text_of(mail)
            assert "/account/sessions" in text_of(mail)
        laptop.cookies.delete("myauth_session")  # signed out; the device cookie stays
        await sign_in(laptop, user)  # a browser the account has seen: no second mail
        await asyncio.sleep(0.3)
    assert len(catcher.messages()) == (1 if notices else 0)
