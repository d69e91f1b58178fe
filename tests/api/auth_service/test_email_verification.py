"""Verified email (issue 16; OIDC Core §5.1 `email_verified`): sign-up and an address change
mail a link (single use, expiring, hashed at rest, for that address only); only the link makes
`email_verified` true; "send again" on /account is throttled. Real SMTP (the aiosmtpd catcher)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from shared.models import AuditEvent, MailedToken, User
from tests.conftest import ISSUER
from tests.factories import TestClient, TestUser, make_client, make_user
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, csrf_from, tokens_for
from tests.support.mail import Catcher, text_of, with_mail
from tests.support.pages import sha256_hex, sign_in
from tests.support.portal import browser, database_text, page_error, signed_in, submit

PASSWORD = "Verify-Pa55phrase-31c7"  # noqa: S105 - test credential
_LINK = re.compile(r"(http://\S+/email/verify\?token=[A-Za-z0-9_-]+)")


@pytest.fixture
def settings(settings: AuthSettings, catcher: Catcher) -> AuthSettings:
    return with_mail(settings, catcher)


@pytest.fixture
async def user(db: Database) -> TestUser:
    return await make_user(db, username="ada", email="ada@example.com", password=PASSWORD)


@pytest.fixture
async def ada(auth_client: httpx.AsyncClient, user: TestUser) -> TestUser:
    """`user`, signed in on `auth_client`."""
    await sign_in(auth_client, user)
    return user


def link_in(catcher_message: object) -> str:
    match = _LINK.search(text_of(catcher_message))  # type: ignore[arg-type]
    assert match is not None
    return match.group(1)


async def stored(db: Database, user_id: str) -> User:
    row = await db.get(User, user_id)
    assert row is not None
    return row


async def sign_up(auth: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await auth.get("/signup")
    data = {
        "username": "grace", "email": email, "name": "Grace Hopper", "password": PASSWORD,
        "csrf_token": csrf_from(page.text),
    }  # fmt: skip
    return await auth.post("/signup", data=data)


async def change_email(auth: httpx.AsyncClient, email: str) -> httpx.Response:
    return await submit(auth, "/account", "/account/profile", {"name": "Ada", "email": email})


async def test_sign_up_mails_a_link_and_only_the_link_verifies_the_address(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    catcher: Catcher,
) -> None:
    assert (await sign_up(auth_client, "grace@example.com")).status_code == 303
    (mail,) = await catcher.wait_for(1)
    assert (mail["To"], mail["Subject"]) == (
        "grace@example.com",
        "Confirm your email address for MyAuthProvider",
    )
    link = link_in(mail)
    assert link.startswith(f"{ISSUER}/email/verify?token=")
    token = link.split("token=", 1)[1]
    [grace] = await db.all(User, User.username == "grace")
    assert grace.email_verified is False
    (row,) = await db.all(MailedToken)
    assert (row.token_hash, row.address, row.purpose) == (
        sha256_hex(token),
        "grace@example.com",
        "email-verify",
    )
    assert row.expires_at - row.created_at == timedelta(hours=24)
    assert token not in await database_text(db)
    account = await auth_client.get("/account")
    assert "Not confirmed yet" in account.text and "Send the link again" in account.text

    async with browser(auth_app) as mail_reader:  # the link works in any browser
        confirmed = await mail_reader.get(link)

    assert confirmed.status_code == 200
    assert "grace@example.com" in confirmed.text and "is confirmed" in confirmed.text
    assert (await stored(db, grace.id)).email_verified is True
    assert await db.count(MailedToken) == 0
    assert await db.count(AuditEvent, AuditEvent.event == "email_verified") == 1
    again = await auth_client.get(link)
    assert again.status_code == 400 and "This link does not work" in again.text


async def test_userinfo_says_email_verified_only_after_the_link(
    db: Database,
    auth_client: httpx.AsyncClient,
    catcher: Catcher,
    user: TestUser,
) -> None:
    client: TestClient = await make_client(db)
    tokens = await tokens_for(auth_client, AuthorizationRequest(client, scope="openid email"), user)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    before = (await auth_client.get("/oauth/userinfo", headers=bearer)).json()
    assert (await submit(auth_client, "/account", "/account/email/verify", {})).status_code == 303
    link = link_in((await catcher.wait_for(1))[0])

    assert (await auth_client.get(link)).status_code == 200

    after = (await auth_client.get("/oauth/userinfo", headers=bearer)).json()
    assert (before["email_verified"], after["email_verified"]) == (False, True)
    assert after["email"] == "ada@example.com"


async def test_a_new_address_is_unverified_and_the_old_addresss_link_proves_nothing(
    db: Database, auth_client: httpx.AsyncClient, catcher: Catcher, ada: TestUser
) -> None:
    await submit(auth_client, "/account", "/account/email/verify", {})
    old_link = link_in((await catcher.wait_for(1))[0])
    assert (await auth_client.get(old_link)).status_code == 200
    assert (await stored(db, ada.id)).email_verified is True

    changed = await change_email(auth_client, "ada@lovelace.example")

    assert changed.status_code == 303
    assert (await stored(db, ada.id)).email_verified is False
    second = (await catcher.wait_for(2))[1]
    assert second["To"] == "ada@lovelace.example"
    new_link = link_in(second)
    assert (await auth_client.get(new_link)).status_code == 200
    assert (await stored(db, ada.id)).email_verified is True


async def test_a_link_to_an_address_the_account_left_verifies_nothing(
    db: Database, auth_client: httpx.AsyncClient, catcher: Catcher, ada: TestUser
) -> None:
    await submit(auth_client, "/account", "/account/email/verify", {})
    stale = link_in((await catcher.wait_for(1))[0])
    await change_email(auth_client, "ada@lovelace.example")
    await catcher.wait_for(2)

    refused = await auth_client.get(stale)

    assert refused.status_code == 400
    assert (await stored(db, ada.id)).email_verified is False


async def test_a_link_expires_after_a_day(
    db: Database, auth_client: httpx.AsyncClient, catcher: Catcher, clock: TestClock,
    ada: TestUser,
) -> None:  # fmt: skip
    await submit(auth_client, "/account", "/account/email/verify", {})
    link = link_in((await catcher.wait_for(1))[0])
    clock.advance(24 * 3600 + 1)

    assert (await auth_client.get(link)).status_code == 400
    assert (await stored(db, ada.id)).email_verified is False


async def test_send_again_is_throttled_per_account(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, catcher: Catcher,
    ada: TestUser,
) -> None:  # fmt: skip
    for _ in range(3):
        sent = await submit(auth_client, "/account", "/account/email/verify", {})
        assert sent.headers["location"] == "/account?message=verification-sent"

    refused = await submit(auth_client, "/account", "/account/email/verify", {})

    assert refused.status_code == 429 and refused.headers["retry-after"] == "3600"
    assert page_error(refused) == "Too many links were sent this hour. Try again later."
    assert len(await catcher.wait_for(3)) == 3
    assert await db.count(MailedToken) == 1  # each link replaced the one before
    # The same account from another browser: still refused (per account, not per browser).
    async with signed_in(auth_app, ada) as other:
        assert (await submit(other, "/account", "/account/email/verify", {})).status_code == 429


async def test_send_again_needs_the_forms_csrf_token(
    db: Database, auth_client: httpx.AsyncClient, ada: TestUser
) -> None:
    await submit(
        auth_client, "/account", "/account/profile", {"name": "Ada", "email": "ada@example.com"}
    )

    refused = await auth_client.post("/account/email/verify", data={})

    assert refused.status_code == 400
    assert await db.count(MailedToken) == 0


async def test_a_made_up_token_gets_the_dead_link_page(auth_client: httpx.AsyncClient) -> None:
    for token in ("", "x" * 43, "x" * 500):
        response = await auth_client.get("/email/verify", params={"token": token})
        assert response.status_code == 400
        assert "This link does not work" in response.text


async def test_changing_the_address_again_and_again_mails_at_most_the_hourly_limit(
    db: Database, auth_client: httpx.AsyncClient, catcher: Catcher, ada: TestUser
) -> None:
    """Nobody can use the address field to make us mail a list of strangers."""
    for n in range(6):
        assert (await change_email(auth_client, f"victim{n % 2}@corp.example")).status_code == 303

    await asyncio.sleep(0.5)
    assert len(await catcher.wait_for(3)) == 3
    assert (await stored(db, ada.id)).email == "victim1@corp.example"
