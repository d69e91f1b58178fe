"""/account: the signed-in user's profile and password (issue 5, "Accounts")."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from shared.models import User, UserSession
from tests.factories import FAST_HASHER, TestUser, make_user
from tests.support.db import Database
from tests.support.flows import csrf_from, login
from tests.support.pages import SESSION_COOKIE, set_cookie, sha256_hex, sign_in
from tests.support.portal import (
    FORM_EXPIRED,
    audit_events,
    browser,
    database_text,
    page_error,
    signed_in,
    submit,
)

PASSWORD = "Account-Pa55phrase-4b2c"  # noqa: S105 - test credential
NEW_PASSWORD = "Brand-New-Pa55phrase-77"  # noqa: S105 - test credential
WRONG_CURRENT = "Your current password is not right."
EMAIL_TAKEN = "That email address is already registered."
FORMS = ["/account/profile", "/account/password", "/account/two-factor/disable"]


@pytest.fixture
async def user(db: Database) -> TestUser:
    return await make_user(
        db, username="ada", email="ada@example.com", name="Ada", password=PASSWORD
    )


@pytest.fixture
async def signed_in_client(auth_client: httpx.AsyncClient, user: TestUser) -> httpx.AsyncClient:
    await sign_in(auth_client, user)
    return auth_client


async def user_row(db: Database, user: TestUser) -> User:
    row = await db.get(User, user.id)
    assert row is not None
    return row


async def change_profile(auth: httpx.AsyncClient, **fields: str) -> httpx.Response:
    return await submit(auth, "/account", "/account/profile", fields)


async def change_password(auth: httpx.AsyncClient, current: str, new: str) -> httpx.Response:
    data = {"current_password": current, "new_password": new}
    return await submit(auth, "/account", "/account/password", data)


async def password_is(db: Database, user: TestUser, password: str) -> bool:
    return (await FAST_HASHER.verify(password, (await user_row(db, user)).password_hash)).ok


# --- Signed-in users only ---


async def test_account_without_session_redirects_to_login_with_next(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.get("/account")

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account"


@pytest.mark.parametrize("path", FORMS)
async def test_account_forms_without_session_redirect_to_login_and_change_nothing(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, path: str
) -> None:
    before = await user_row(db, user)

    response = await auth_client.post(
        path, data={"name": "X", "email": "x@example.com", "current_password": PASSWORD}
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account"
    assert await user_row(db, user) == before


async def test_account_page_shows_the_profile_and_three_csrf_protected_forms(
    signed_in_client: httpx.AsyncClient,
) -> None:
    response = await signed_in_client.get("/account")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "<strong>ada</strong>" in response.text
    assert (
        'name="email" type="email" autocomplete="email" required maxlength="254" value="ada@example.com"'
        in response.text
    )
    token = csrf_from(response.text)
    assert response.text.count(f'name="csrf_token" value="{token}"') == 2  # profile, password
    assert 'href="/account/two-factor"' in response.text


async def test_account_login_with_next_returns_to_account(
    auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    page = await auth_client.get("/login", params={"next": "/account"})
    response = await auth_client.post(
        "/login",
        data={
            "username": user.username,
            "password": user.password,
            "next": "/account",
            "csrf_token": csrf_from(page.text),
        },
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/account"


# --- Profile ---


async def test_account_profile_update_changes_name_and_lowercased_email(
    db: Database, signed_in_client: httpx.AsyncClient, user: TestUser
) -> None:
    response = await change_profile(
        signed_in_client, name="Ada Lovelace", email="Countess@Example.ORG"
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/account?message=profile"
    row = await user_row(db, user)
    assert (row.name, row.email) == ("Ada Lovelace", "countess@example.org")
    page = await signed_in_client.get(response.headers["location"])
    assert "Your profile was saved." in page.text
    (event,) = await audit_events(db, "profile_updated")
    assert event.user_id == user.id


async def test_account_profile_keeping_own_email_in_other_case_is_allowed(
    db: Database, signed_in_client: httpx.AsyncClient, user: TestUser
) -> None:
    response = await change_profile(signed_in_client, name="Ada L.", email="ADA@example.com")

    assert response.status_code == 303
    row = await user_row(db, user)
    assert (row.name, row.email) == ("Ada L.", "ada@example.com")


@pytest.mark.parametrize(
    "email", ["not-an-email", "two@@example.com", "", "a b@example.com", "x@" + "e" * 250 + ".com"]
)
async def test_account_profile_malformed_email_returns_400_and_changes_nothing(
    db: Database, signed_in_client: httpx.AsyncClient, user: TestUser, email: str
) -> None:
    before = await user_row(db, user)

    response = await change_profile(signed_in_client, name="Changed", email=email)

    assert response.status_code == 400
    assert page_error(response) == "Email address is not valid."
    assert await user_row(db, user) == before
    assert await audit_events(db, "profile_updated") == []


@pytest.mark.parametrize("email", ["bob@example.com", "BOB@Example.com"])
async def test_account_profile_email_of_another_user_returns_400_and_changes_nothing(
    db: Database, signed_in_client: httpx.AsyncClient, user: TestUser, email: str
) -> None:
    await make_user(db, username="bob", email="bob@example.com")
    before = await user_row(db, user)

    response = await change_profile(signed_in_client, name="Changed", email=email)

    assert response.status_code == 400
    assert page_error(response) == EMAIL_TAKEN
    assert await user_row(db, user) == before


async def test_account_profile_new_email_is_unverified_and_same_email_stays_verified(
    db: Database, signed_in_client: httpx.AsyncClient, user: TestUser
) -> None:
    row = await user_row(db, user)
    row.email_verified = True
    await db.add(row)
    kept = await change_profile(signed_in_client, name="Ada", email="ADA@example.com")
    assert kept.status_code == 303
    assert (await user_row(db, user)).email_verified is True

    changed = await change_profile(signed_in_client, name="Ada", email="ada@elsewhere.org")

    assert changed.status_code == 303
    row = await user_row(db, user)
    assert (row.email, row.email_verified) == ("ada@elsewhere.org", False)


# --- Password ---


async def test_account_password_change_with_wrong_current_password_returns_400(
    db: Database, signed_in_client: httpx.AsyncClient, user: TestUser
) -> None:
    before = (await user_row(db, user)).password_hash

    response = await change_password(signed_in_client, "not my password", NEW_PASSWORD)

    assert response.status_code == 400
    assert page_error(response) == WRONG_CURRENT
    assert (await user_row(db, user)).password_hash == before
    assert [e.user_id for e in await audit_events(db, "password_change_failed")] == [user.id]
    assert await audit_events(db, "password_changed") == []


async def test_account_password_guessing_is_slowed_like_login_even_for_the_right_password(
    db: Database, signed_in_client: httpx.AsyncClient, user: TestUser
) -> None:
    """A stolen session cookie must not turn this form into a fast password oracle."""
    before = (await user_row(db, user)).password_hash
    for _ in range(5):  # the 3rd failure starts a 1 s wait, the 5th makes it 4 s
        response = await change_password(signed_in_client, "not my password", NEW_PASSWORD)
        assert response.status_code in (400, 429)

    response = await change_password(signed_in_client, PASSWORD, NEW_PASSWORD)

    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert page_error(response).startswith("Too many attempts. Try again in ")
    assert (await user_row(db, user)).password_hash == before


@pytest.mark.parametrize(
    ("new_password", "message"),
    [
        ("short1234", "Password must be at least 10 characters."),
        ("ADA@EXAMPLE.COM", "Password must not be your username or email address."),
    ],
    ids=["too-short", "email"],
)
async def test_account_password_change_applies_new_password_rules(
    db: Database,
    signed_in_client: httpx.AsyncClient,
    user: TestUser,
    new_password: str,
    message: str,
) -> None:
    before = (await user_row(db, user)).password_hash

    response = await change_password(signed_in_client, PASSWORD, new_password)

    assert response.status_code == 400
    assert page_error(response) == message
    assert (await user_row(db, user)).password_hash == before


async def test_account_password_equal_to_long_username_is_refused(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    long_name = await make_user(db, username="verylongname", password=PASSWORD)
    await sign_in(auth_client, long_name)

    response = await change_password(auth_client, PASSWORD, "VeryLongName")

    assert response.status_code == 400
    assert page_error(response) == "Password must not be your username or email address."
    assert await password_is(db, long_name, PASSWORD)


async def test_account_password_change_keeps_this_session_and_ends_every_other(
    db: Database,
    auth_app: FastAPI,
    signed_in_client: httpx.AsyncClient,
    user: TestUser,
) -> None:
    bob = await make_user(db, username="bob")
    async with signed_in(auth_app, user) as other, signed_in(auth_app, bob) as bobs:
        current = signed_in_client.cookies[SESSION_COOKIE]
        assert await db.count(UserSession) == 3

        response = await change_password(signed_in_client, PASSWORD, NEW_PASSWORD)

        assert response.status_code == 303
        assert response.headers["location"] == "/account?message=password"
        # This browser keeps its login under a new session id (ASVS 5.0 V7.2.4).
        rotated = set_cookie(response, SESSION_COOKIE)
        assert rotated["value"] != current
        assert (rotated["httponly"], rotated["samesite"], rotated["path"]) == ("True", "lax", "/")
        sessions = await db.all(UserSession)
        assert sorted(s.user_id for s in sessions) == sorted([user.id, bob.id])
        ids = {s.id_hash for s in sessions}
        assert sha256_hex(rotated["value"]) in ids and sha256_hex(current) not in ids
        assert (await signed_in_client.get("/account")).status_code == 200
        elsewhere = await other.get("/account")
        assert elsewhere.status_code == 303
        assert elsewhere.headers["location"] == "/login?next=/account"
        # Another user's sessions are not touched.
        assert (await bobs.get("/account")).status_code == 200
    assert await password_is(db, user, NEW_PASSWORD)
    assert not await password_is(db, user, PASSWORD)
    (event,) = await audit_events(db, "password_changed")
    assert event.user_id == user.id


async def test_account_password_change_then_only_the_new_password_logs_in(
    auth_app: FastAPI, signed_in_client: httpx.AsyncClient, user: TestUser
) -> None:
    assert (await change_password(signed_in_client, PASSWORD, NEW_PASSWORD)).status_code == 303

    async with browser(auth_app) as fresh:
        old = await login(fresh, user)
        new = await login(fresh, user, password=NEW_PASSWORD)

    assert old.status_code == 400
    assert new.status_code == 303


async def test_account_password_change_does_not_store_or_log_the_passwords(
    db: Database, signed_in_client: httpx.AsyncClient
) -> None:
    assert (await change_password(signed_in_client, PASSWORD, NEW_PASSWORD)).status_code == 303

    text = await database_text(db)
    assert PASSWORD not in text
    assert NEW_PASSWORD not in text


# --- CSRF on every form ---


@pytest.mark.parametrize("path", FORMS)
@pytest.mark.parametrize("csrf_token", [None, "forged"], ids=["missing", "wrong"])
async def test_account_form_without_valid_csrf_token_returns_400_and_changes_nothing(
    db: Database,
    signed_in_client: httpx.AsyncClient,
    user: TestUser,
    path: str,
    csrf_token: str | None,
) -> None:
    before = await user_row(db, user)
    data = {
        "name": "Changed",
        "email": "changed@example.com",
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
    }
    if csrf_token is not None:
        data["csrf_token"] = csrf_token

    response = await signed_in_client.post(path, data=data)

    assert response.status_code == 400
    assert page_error(response) == FORM_EXPIRED
    assert await user_row(db, user) == before


async def test_account_csrf_token_of_another_session_is_refused(
    db: Database, auth_app: FastAPI, signed_in_client: httpx.AsyncClient, user: TestUser
) -> None:
    # A token is bound to its session: one from before this login no longer works.
    stale = csrf_from((await signed_in_client.get("/account")).text)
    await sign_in(signed_in_client, user)
    before = await user_row(db, user)

    response = await signed_in_client.post(
        "/account/profile", data={"name": "X", "email": "x@example.com", "csrf_token": stale}
    )

    assert response.status_code == 400
    assert page_error(response) == FORM_EXPIRED
    assert await user_row(db, user) == before
