"""Forgot password (issue 16; OWASP Forgot Password Cheat Sheet): a mailed, single-use,
expiring link, hashed at rest, that sets a new password and ends every session, grant and
consent of the account. Mail goes through a real SMTP server (the project's aiosmtpd catcher)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col

from auth_service.config import AuthSettings
from shared.models import (
    AuditEvent,
    Consent,
    Grant,
    MailedToken,
    Passkey,
    UpstreamLink,
    UpstreamProvider,
    User,
    UserSession,
)
from tests.conftest import ISSUER
from tests.factories import TestClient, TestUser, make_client, make_user
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, csrf_from, login, tokens_for
from tests.support.mail import Catcher, html_of, outbox_empty, reset_link, text_of, with_mail
from tests.support.pages import set_cookie, sha256_hex
from tests.support.portal import audit_events, browser, database_text, page_error, signed_in
from tests.support.token_endpoint import refresh

PASSWORD = "Account-Pa55phrase-4b2c"  # noqa: S105 - test credential
NEW_PASSWORD = "Brand-New-Pa55phrase-77"  # noqa: S105 - test credential
EMAIL = "ada@example.com"
SENT = "If an account uses {email}, a link to choose a new password is on its way there."
DEAD = "This link has expired or was already used. Ask for a new one below."


@pytest.fixture
def settings(settings: AuthSettings, catcher: Catcher) -> AuthSettings:
    return with_mail(settings, catcher)


@pytest.fixture
async def user(db: Database) -> TestUser:
    return await make_user(db, username="ada", email=EMAIL, password=PASSWORD)


@pytest.fixture
async def notes_app(db: Database) -> TestClient:
    return await make_client(db, name="Notes App")


async def ask_for_link(auth: httpx.AsyncClient, email: str) -> httpx.Response:
    page = await auth.get("/password/forgot")
    assert page.status_code == 200, page.text
    return await auth.post("/password/forgot", data={"email": email, "csrf_token": _csrf(page)})


async def choose(auth: httpx.AsyncClient, password: str) -> httpx.Response:
    page = await auth.get("/password/reset")
    assert page.status_code == 200, page.text
    data = {"new_password": password, "csrf_token": _csrf(page)}
    return await auth.post("/password/reset", data=data)


def _csrf(page: httpx.Response) -> str:
    return csrf_from(page.text)


async def mailed_link(auth: httpx.AsyncClient, catcher: Catcher, email: str, nth: int = 1) -> str:
    assert (await ask_for_link(auth, email)).status_code == 200
    return reset_link((await catcher.wait_for(nth))[nth - 1])


async def user_row(db: Database, user: TestUser) -> User:
    row = await db.get(User, user.id)
    assert row is not None
    return row


async def test_a_forgotten_password_is_reset_by_mail_and_every_session_and_grant_ends(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    settings: AuthSettings,
    catcher: Catcher,
    notes_app: TestClient,
    user: TestUser,
) -> None:
    tokens: dict[str, Any] = await tokens_for(
        auth_client, AuthorizationRequest(notes_app, scope="openid offline_access"), user
    )
    async with signed_in(auth_app, user) as elsewhere, browser(auth_app) as forgetful:
        page = await ask_for_link(forgetful, "Ada@Example.com")

        assert page.status_code == 200
        assert SENT.format(email="Ada@Example.com") in page.text
        (mail,) = await catcher.wait_for(1)
        assert (mail["To"], mail["From"]) == ("ada@example.com", settings.mail_from)
        assert mail["Subject"] == "Reset your MyAuthProvider password"
        assert mail["Auto-Submitted"] == "auto-generated"
        link = reset_link(mail)
        assert link.startswith(f"{ISSUER}/password/reset?token=")
        assert link in html_of(mail)
        token = link.split("token=", 1)[1]
        (stored,) = await db.all(MailedToken)
        assert (stored.token_hash, stored.user_id) == (sha256_hex(token), user.id)
        assert stored.expires_at - stored.created_at == timedelta(minutes=30)
        assert token not in await database_text(db)  # hashed at rest; the outbox row is gone
        assert await outbox_empty(db)

        opened = await forgetful.get(link)

        assert opened.status_code == 303
        assert opened.headers["location"] == "/password/reset"  # the token leaves the URL
        cookie = set_cookie(opened, "myauth_reset")
        assert cookie["value"] == token and "httponly" in cookie and cookie["samesite"] == "lax"
        form = await forgetful.get("/password/reset")
        assert form.status_code == 200 and "ada" in form.text

        done = await choose(forgetful, NEW_PASSWORD)

        assert done.status_code == 303
        assert done.headers["location"] == "/login?notice=password-reset"
        assert set_cookie(done, "myauth_reset")["value"] == ""
        assert await db.all(UserSession, UserSession.user_id == user.id) == []
        assert (await elsewhere.get("/account")).status_code == 303
    grants = await db.all(Grant, Grant.user_id == user.id)
    assert grants and all(g.revoked_at is not None for g in grants)
    assert await db.count(Consent, Consent.user_id == user.id) == 0
    assert_oauth_error(
        await refresh(auth_client, notes_app, tokens["refresh_token"]),
        "invalid_grant",
        description="refresh token was revoked",
    )
    assert await db.count(MailedToken) == 0  # spent, and with it every other link
    # A notice goes to the owner, with the way back if it was not them.
    notice = (await catcher.wait_for(2))[1]
    assert notice["Subject"] == "Your MyAuthProvider password was changed"
    assert f"{ISSUER}/password/forgot" in text_of(notice)
    # The person signs in again, with the new password only.
    async with browser(auth_app) as fresh:
        page = await fresh.get("/login?notice=password-reset")
        assert "Your password was changed. Sign in with the new one." in page.text
        assert (await login(fresh, user, password=PASSWORD)).status_code == 400
        assert (await login(fresh, user, password=NEW_PASSWORD)).status_code == 303
    (asked,) = await audit_events(db, "password_reset_requested")
    (reset,) = await audit_events(db, "password_reset")
    assert (asked.user_id, reset.user_id, reset.details) == (
        user.id,
        user.id,
        {"grants_revoked": 1},
    )


async def test_an_unknown_address_gets_the_same_answer_and_nothing_is_stored_or_sent(
    db: Database, auth_client: httpx.AsyncClient, catcher: Catcher, user: TestUser
) -> None:
    known = await ask_for_link(auth_client, EMAIL)
    await catcher.wait_for(1)
    unknown = await ask_for_link(auth_client, "nobody@example.com")

    assert (unknown.status_code, known.status_code) == (200, 200)
    assert SENT.format(email="nobody@example.com") in unknown.text
    assert _without_csrf(unknown.text.replace("nobody@example.com", EMAIL)) == (
        _without_csrf(known.text)
    )
    assert await db.count(MailedToken) == 1
    assert len(catcher.messages()) == 1
    assert await db.count(AuditEvent, col(AuditEvent.event).startswith("password_reset")) == 1


def _without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html)


async def test_a_link_works_once(
    db: Database, auth_app: FastAPI, catcher: Catcher, user: TestUser
) -> None:
    async with browser(auth_app) as first:
        link = await mailed_link(first, catcher, EMAIL)
        assert (await first.get(link)).status_code == 303
        assert (await choose(first, NEW_PASSWORD)).status_code == 303
        hash_after_reset = (await user_row(db, user)).password_hash
    async with browser(auth_app) as second:
        again = await second.get(link)

        assert again.status_code == 400
        assert page_error(again) == DEAD
        assert (await second.get("/password/reset")).status_code == 400
    assert (await user_row(db, user)).password_hash == hash_after_reset


async def test_a_link_expires_after_thirty_minutes_and_a_newer_link_ends_none(
    auth_app: FastAPI, clock: TestClock, catcher: Catcher, user: TestUser
) -> None:
    async with browser(auth_app) as forgetful:
        old = await mailed_link(forgetful, catcher, EMAIL)
        clock.advance(29 * 60)
        newer = await mailed_link(forgetful, catcher, EMAIL, nth=2)
        clock.advance(61)

        expired = await forgetful.get(old)

        assert (expired.status_code, page_error(expired)) == (400, DEAD)
        assert (await forgetful.get(newer)).status_code == 303


async def test_setting_the_password_spends_every_other_link_of_the_account(
    auth_app: FastAPI, catcher: Catcher, user: TestUser
) -> None:
    async with browser(auth_app) as forgetful:
        first = await mailed_link(forgetful, catcher, EMAIL)
        second = await mailed_link(forgetful, catcher, EMAIL, nth=2)
        assert (await forgetful.get(second)).status_code == 303
        assert (await choose(forgetful, NEW_PASSWORD)).status_code == 303

        assert (await forgetful.get(first)).status_code == 400


async def test_a_reset_removes_the_accounts_passkeys(
    db: Database, auth_app: FastAPI, catcher: Catcher, user: TestUser
) -> None:
    """A passkey planted by whoever took the account over must not outlive the reset."""
    now = datetime.now(UTC)
    await db.add(
        Passkey(credential_id="planted", user_id=user.id, name="Not mine", public_key="x",
                created_at=now)
    )  # fmt: skip
    async with browser(auth_app) as forgetful:
        await forgetful.get(await mailed_link(forgetful, catcher, EMAIL))
        assert (await choose(forgetful, NEW_PASSWORD)).status_code == 303

    assert await db.count(Passkey) == 0
    notice = (await catcher.wait_for(2))[1]
    assert "Your passkeys were removed too" in text_of(notice)


async def test_a_reset_removes_the_accounts_links_to_upstream_providers(
    db: Database, auth_app: FastAPI, catcher: Catcher, user: TestUser
) -> None:
    """Whoever made the account through an upstream with the owner's address, or linked their
    own upstream account to it, loses that way in with the reset."""
    now = datetime.now(UTC)
    await db.add(UpstreamProvider(
        id="idp", name="IdP", kind="oidc", issuer="https://idp.example", client_id="c",
        client_secret_encrypted="-", scope="openid", created_at=now,
    ))  # fmt: skip
    await db.add(
        UpstreamLink(provider_id="idp", subject="someone", user_id=user.id, created_at=now)
    )
    async with browser(auth_app) as forgetful:
        await forgetful.get(await mailed_link(forgetful, catcher, EMAIL))
        assert (await choose(forgetful, NEW_PASSWORD)).status_code == 303

    assert await db.count(UpstreamLink) == 0 and await db.count(UpstreamProvider) == 1
    notice = (await catcher.wait_for(2))[1]
    assert "Your links to other sign-in providers were removed too" in text_of(notice)


async def test_a_weak_password_is_refused_and_nothing_changes(
    db: Database, auth_app: FastAPI, catcher: Catcher, user: TestUser
) -> None:
    before = (await user_row(db, user)).password_hash
    async with signed_in(auth_app, user) as elsewhere, browser(auth_app) as forgetful:
        link = await mailed_link(forgetful, catcher, EMAIL)
        await forgetful.get(link)

        refused = await choose(forgetful, "short")

        assert refused.status_code == 400
        assert page_error(refused) == "Password must be at least 10 characters."
        assert (await elsewhere.get("/account")).status_code == 200
    assert (await user_row(db, user)).password_hash == before
    (token,) = await db.all(MailedToken)
    assert token.used_at is None
    assert len(catcher.messages()) == 1  # no notice: nothing changed


async def test_a_forged_or_missing_reset_cookie_gets_the_dead_link_page(
    db: Database, auth_app: FastAPI, user: TestUser
) -> None:
    before = (await user_row(db, user)).password_hash
    async with browser(auth_app) as forger:
        forger.cookies.set("myauth_reset", "x" * 43)
        assert (await forger.get("/password/reset")).status_code == 400
        posted = await forger.post("/password/reset", data={"new_password": NEW_PASSWORD})
        assert (posted.status_code, page_error(posted)) == (400, DEAD)
        assert (await forger.get("/password/reset?token=" + "y" * 43)).status_code == 400
    assert (await user_row(db, user)).password_hash == before


async def test_the_reset_form_needs_its_csrf_token(
    db: Database, auth_app: FastAPI, catcher: Catcher, user: TestUser
) -> None:
    async with browser(auth_app) as forgetful:
        await forgetful.get(await mailed_link(forgetful, catcher, EMAIL))

        refused = await forgetful.post("/password/reset", data={"new_password": NEW_PASSWORD})

        assert (refused.status_code, page_error(refused)) == (
            400,
            "This form has expired. Please try again.",
        )
    (token,) = await db.all(MailedToken)
    assert token.used_at is None


async def test_mails_per_account_are_capped_silently(
    db: Database, auth_app: FastAPI, catcher: Catcher, user: TestUser
) -> None:
    async with browser(auth_app) as forgetful:
        for n in range(1, 4):
            await mailed_link(forgetful, catcher, EMAIL, nth=n)

        fourth = await ask_for_link(forgetful, EMAIL)

        assert fourth.status_code == 200 and SENT.format(email=EMAIL) in fourth.text
    assert await db.count(MailedToken) == 3
    assert len(catcher.messages()) == 3
    assert len(await audit_events(db, "password_reset_throttled")) == 1


async def test_the_form_is_throttled_per_address(
    db: Database, auth_app: FastAPI, settings: AuthSettings
) -> None:
    limit = settings.password_reset_limit_per_ip
    async with browser(auth_app, ip="203.0.113.9") as sprayer:
        for n in range(limit):
            assert (await ask_for_link(sprayer, f"guess{n}@example.com")).status_code == 200

        refused = await ask_for_link(sprayer, "one-more@example.com")

        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
    async with browser(auth_app, ip="198.51.100.7") as neighbour:
        assert (await ask_for_link(neighbour, "me@example.com")).status_code == 200


async def test_an_address_that_is_no_address_is_asked_again(auth_client: httpx.AsyncClient) -> None:
    response = await ask_for_link(auth_client, "not an address")

    assert (response.status_code, page_error(response)) == (
        400,
        "Enter the email address of your account.",
    )


async def test_the_login_page_offers_the_reset(auth_client: httpx.AsyncClient) -> None:
    page = await auth_client.get("/login")

    assert 'href="/password/forgot"' in page.text
