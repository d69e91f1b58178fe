"""Bounds on the work passwords cost and on what account fields accept: argon2 in its own small
limiter that sheds load with 503 + Retry-After, over-long passwords refused without hashing,
emails in one Unicode form, and recovery codes from before keyed digests (issue 13, part 7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.main import create_app
from auth_service.security.passwords import MAX_PASSWORD_LENGTH, PasswordHasher
from shared.models import AuditEvent, Grant, RecoveryCode, User, UserSession
from tests.factories import TestUser, make_client, make_user
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import csrf_from, login
from tests.support.lifecycle import password_grant
from tests.support.pages import sha256_hex, sign_in
from tests.support.portal import browser, page_error, submit
from tests.support.two_step import enrol, submit_code

LOGIN_FAILED = "The username or password is not right."
BUSY = "too many sign-ins at once, try again shortly"
INVALID_EMAIL = "Email address is not valid."


@pytest.fixture
async def one_at_a_time(
    settings: AuthSettings, db: Database, signing_key: object, clock: TestClock
) -> AsyncIterator[FastAPI]:
    """An app whose hasher runs one hash and lets none wait."""
    narrow = settings.model_copy(update={"password_hash_concurrency": 1, "password_hash_queue": 0})
    app = create_app(narrow, clock=clock)
    async with LifespanManager(app):
        yield app


def hasher_of(app: FastAPI) -> PasswordHasher:
    hasher: PasswordHasher = app.state.password_hasher
    return hasher


# --- Shedding load ---


async def test_login_while_the_hasher_is_full_answers_503_with_retry_after_and_writes_nothing(
    db: Database, one_at_a_time: FastAPI, user: TestUser
) -> None:
    assert hasher_of(one_at_a_time).limiter.total_tokens == 1
    async with browser(one_at_a_time) as auth:
        page = await auth.get("/login")
        form = {
            "username": user.username,
            "password": user.password,
            "csrf_token": csrf_from(page.text),
        }
        async with hasher_of(one_at_a_time).limiter:  # another sign-in is being hashed
            response = await auth.post("/login", data=form)

        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
        assert response.headers["content-type"].startswith("text/html")
        assert BUSY in response.text
        assert "location" not in response.headers
        assert await db.count(UserSession) == 0
        assert await db.all(AuditEvent, AuditEvent.event == "login_failed") == []

        # Once the hash in flight is done, the same form signs in.
        again = await auth.post("/login", data=form)
        assert again.status_code == 303, again.text


async def test_token_password_grant_while_the_hasher_is_full_answers_json_503(
    db: Database, one_at_a_time: FastAPI, user: TestUser
) -> None:
    client = await make_client(db, grant_types=["password"], is_first_party=True, scope="profile")
    async with browser(one_at_a_time) as auth:
        async with hasher_of(one_at_a_time).limiter:
            response = await password_grant(
                auth, client, username=user.username, password=user.password
            )

    assert response.status_code == 503
    assert response.json() == {"error": "temporarily_unavailable", "error_description": BUSY}
    assert response.headers["retry-after"] == "2"
    assert response.headers["cache-control"] == "no-store"
    assert await db.count(Grant) == 0


async def test_login_with_an_over_long_password_is_refused_without_hashing(
    db: Database, one_at_a_time: FastAPI, user: TestUser
) -> None:
    """Refused before the hasher is asked: even with the hasher full, no 503 but a plain 400."""
    async with browser(one_at_a_time) as auth:
        async with hasher_of(one_at_a_time).limiter:
            response = await login(auth, user, password=user.password + "x" * MAX_PASSWORD_LENGTH)

    assert response.status_code == 400
    assert page_error(response) == LOGIN_FAILED
    assert await db.count(UserSession) == 0


async def test_login_with_an_over_long_password_that_starts_with_the_right_one_fails(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    """The longest password works; one character more is never cut back to it."""
    longest = "p" * MAX_PASSWORD_LENGTH
    user = await make_user(db, password=longest)

    assert (await login(auth_client, user, password=longest + "p")).status_code == 400
    assert (await login(auth_client, user, password=longest)).status_code == 303


async def test_password_change_with_an_over_long_current_password_is_refused(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    longest = "q" * MAX_PASSWORD_LENGTH
    user = await make_user(db, password=longest)
    await sign_in(auth_client, user)
    before = await db.get(User, user.id)
    assert before is not None

    response = await submit(
        auth_client,
        "/account",
        "/account/password",
        {"current_password": longest + "q", "new_password": "Brand-New-Pa55phrase-77"},
    )

    assert response.status_code == 400
    assert page_error(response) == "Your current password is not right."
    after = await db.get(User, user.id)
    assert after is not None and after.password_hash == before.password_hash


# --- Emails in one form ---


async def post_signup(auth: httpx.AsyncClient, **fields: str) -> httpx.Response:
    page = await auth.get("/signup")
    data = {"name": "Grace", "password": "Signup-Pa55phrase-9x", **fields}
    return await auth.post("/signup", data={**data, "csrf_token": csrf_from(page.text)})


async def test_signup_stores_the_nfkc_form_of_the_email_and_sees_look_alikes_as_taken(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient
) -> None:
    response = await post_signup(auth_client, username="grace", email="ｇｒａｃｅ@example.com")

    assert response.status_code == 303, response.text
    (row,) = await db.all(User, User.username == "grace")
    assert row.email == "grace@example.com"
    async with browser(auth_app) as other:
        again = await post_signup(other, username="grace2", email="GRACE@ｅｘａｍｐｌｅ.com")
    assert again.status_code == 400
    assert page_error(again) == "That username or email address is already registered."
    assert await db.count(User) == 1


@pytest.mark.parametrize("email", ["grace\u200b@example.com", "gr\u202eace@example.com"])
async def test_signup_email_with_a_format_character_is_refused(
    db: Database, auth_client: httpx.AsyncClient, email: str
) -> None:
    response = await post_signup(auth_client, username="grace", email=email)

    assert response.status_code == 400
    assert page_error(response) == INVALID_EMAIL
    assert await db.count(User) == 0


async def test_signup_email_too_long_is_refused_not_cut_to_254(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    # Cut at 254 characters this would read "...@example.com", a valid address.
    email = "g" * 240 + "@example.com" + "x" * 10
    response = await post_signup(auth_client, username="grace", email=email)

    assert response.status_code == 400
    assert page_error(response) == INVALID_EMAIL
    assert await db.count(User) == 0


async def test_profile_email_with_a_format_character_is_refused(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    before = await db.get(User, user.id)

    response = await submit(
        auth_client, "/account", "/account/profile", {"name": "A", "email": "a\u200d@example.com"}
    )

    assert response.status_code == 400
    assert page_error(response) == INVALID_EMAIL
    assert await db.get(User, user.id) == before


async def test_profile_email_is_stored_in_nfkc_form(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)

    response = await submit(
        auth_client, "/account", "/account/profile", {"name": "A", "email": "ａ@example.org"}
    )

    assert response.status_code == 303, response.text
    row = await db.get(User, user.id)
    assert row is not None and (row.email, row.email_verified) == ("a@example.org", False)


# --- Recovery codes from before keyed digests ---


async def test_recovery_code_stored_as_bare_sha256_still_signs_in_once(
    db: Database, auth_app: FastAPI, user: TestUser, clock: TestClock
) -> None:
    """Codes made before the upgrade keep working: they are looked up under both forms."""
    async with browser(auth_app) as setup:
        await sign_in(setup, user)
        await enrol(setup, clock, user.password)
    legacy = "abcd-efgh-ijkm"
    await db.add(
        RecoveryCode(
            code_hash=sha256_hex(legacy.replace("-", "")),
            user_id=user.id,
            created_at=datetime.now(UTC),
        )
    )

    async with browser(auth_app) as auth:
        assert (await login(auth, user)).status_code == 303
        response = await submit_code(auth, legacy)
        assert response.status_code == 303, response.text
    row = await db.get(RecoveryCode, sha256_hex(legacy.replace("-", "")))
    assert row is not None and row.used_at is not None
    async with browser(auth_app) as auth:
        assert (await login(auth, user)).status_code == 303
        assert (await submit_code(auth, legacy)).status_code == 400
