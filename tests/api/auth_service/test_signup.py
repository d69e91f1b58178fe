"""GET/POST /signup: a person creates an account and is signed in (issue 5, "Accounts")."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from shared.models import AuditEvent, User, UserSession
from tests.factories import TestUser, make_user
from tests.support.db import Database
from tests.support.flows import csrf_from
from tests.support.pages import (
    BROWSER_COOKIE,
    SESSION_COOKIE,
    assert_page_security_headers,
    set_cookie,
    sha256_hex,
    sign_in,
)
from tests.support.portal import FORM_EXPIRED, browser, database_text, page_error

PASSWORD = "Signup-Pa55phrase-9d1e"  # noqa: S105 - test credential; distinctive, to find leaks
TAKEN = "That username or email address is already registered."


@pytest.fixture
def setting_overrides() -> dict[str, Any]:
    """Parametrize with AuthSettings fields to change for one test."""
    return {}


@pytest.fixture
def settings(settings: AuthSettings, setting_overrides: dict[str, Any]) -> AuthSettings:
    return settings.model_copy(update=setting_overrides)


def signup_form(**overrides: str) -> dict[str, str]:
    values = {
        "username": "grace",
        "email": "grace@example.com",
        "name": "Grace Hopper",
        "password": PASSWORD,
    }
    values.update(overrides)
    return values


async def post_signup(
    auth: httpx.AsyncClient, *, next_path: str = "", **fields: str
) -> httpx.Response:
    page = await auth.get("/signup", params={"next": next_path} if next_path else None)
    assert page.status_code == 200, page.text
    data = {**signup_form(**fields), "next": next_path, "csrf_token": csrf_from(page.text)}
    return await auth.post("/signup", data=data)


# --- The page ---


async def test_signup_page_renders_labelled_fields_and_csrf_token(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.get("/signup")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    for field, label in (
        ("username", "Username"),
        ("email", "Email address"),
        ("password", "Password"),
    ):
        assert f'<label for="{field}">{label}</label>' in response.text
        assert f'id="{field}" name="{field}"' in response.text
    assert 'name="password" type="password" autocomplete="new-password"' in response.text
    assert csrf_from(response.text)
    assert set_cookie(response, BROWSER_COOKIE)["httponly"] == "True"
    assert_page_security_headers(response)


# --- Success ---


async def test_signup_success_creates_user_with_argon2id_hash_and_lowercased_names(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await post_signup(
        auth_client, username="Grace.Hopper", email="Grace.Hopper@Example.COM"
    )

    assert response.status_code == 303, response.text
    (user,) = await db.all(User)
    assert user.username == "grace.hopper"
    assert user.email == "grace.hopper@example.com"
    assert user.name == "Grace Hopper"
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert user.totp_enabled_at is None


async def test_signup_success_signs_in_and_redirects_to_account(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await post_signup(auth_client)

    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    cookie = set_cookie(response, SESSION_COOKIE)
    assert cookie["httponly"] == "True"
    (user,) = await db.all(User)
    (session,) = await db.all(UserSession)
    assert session.id_hash == sha256_hex(cookie["value"])
    assert (session.user_id, session.second_factor_pending) == (user.id, False)
    account = await auth_client.get("/account")
    assert account.status_code == 200
    assert "<strong>grace</strong>" in account.text


async def test_signup_without_display_name_uses_the_username(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await post_signup(auth_client, name="")

    assert response.status_code == 303
    (user,) = await db.all(User)
    assert user.name == "grace"


@pytest.mark.parametrize(
    ("next_path", "location"),
    [
        ("/developers", "/developers"),
        ("/developers/apps/new?x=1", "/developers/apps/new?x=1"),
        ("//evil.example/steal", "/account"),
        ("https://evil.example/", "/account"),
        ("/\\evil.example", "/account"),
    ],
    ids=["local", "local-with-query", "scheme-relative", "absolute", "backslash"],
)
async def test_signup_success_redirects_only_to_a_safe_local_next(
    auth_client: httpx.AsyncClient, next_path: str, location: str
) -> None:
    response = await post_signup(auth_client, next_path=next_path)

    assert response.status_code == 303
    assert response.headers["location"] == location


# --- Refused input ---


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": "short1234"}, "Password must be at least 10 characters."),
        (
            {"username": "longusername", "password": "LongUserName"},
            "Password must not be your username or email address.",
        ),
        (
            {"email": "someone@example.com", "password": "SomeOne@Example.COM"},
            "Password must not be your username or email address.",
        ),
        ({"email": "not-an-email"}, "Email address is not valid."),
    ],
    ids=["too-short", "equals-username", "equals-email", "bad-email"],
)
async def test_signup_bad_input_returns_400_with_message_and_creates_no_user(
    db: Database, auth_client: httpx.AsyncClient, fields: dict[str, str], message: str
) -> None:
    response = await post_signup(auth_client, **fields)

    assert response.status_code == 400
    assert page_error(response) == message
    assert SESSION_COOKIE not in response.cookies
    assert await db.count(User) == 0
    assert await db.count(UserSession) == 0


async def test_signup_bad_input_does_not_echo_the_password(auth_client: httpx.AsyncClient) -> None:
    response = await post_signup(auth_client, email="not-an-email")

    assert response.status_code == 400
    assert PASSWORD not in response.text


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "ADA", "email": "someone.else@example.com"},
        {"username": "someone-else", "email": "Ada@Example.com"},
    ],
    ids=["username-taken", "email-taken"],
)
async def test_signup_taken_username_or_email_gets_one_message_that_does_not_say_which(
    db: Database, auth_client: httpx.AsyncClient, fields: dict[str, str]
) -> None:
    await make_user(db, username="ada", email="ada@example.com")

    response = await post_signup(auth_client, **fields)

    assert response.status_code == 400
    assert page_error(response) == TAKEN
    assert await db.count(User) == 1
    assert await db.count(UserSession) == 0


@pytest.mark.parametrize("csrf_token", [None, "forged-token"], ids=["missing", "wrong"])
async def test_signup_missing_or_wrong_csrf_token_returns_400_and_creates_no_user(
    db: Database, auth_client: httpx.AsyncClient, csrf_token: str | None
) -> None:
    await auth_client.get("/signup")  # the browser cookie exists; only the token is bad
    data = signup_form()
    if csrf_token is not None:
        data["csrf_token"] = csrf_token

    response = await auth_client.post("/signup", data=data)

    assert response.status_code == 400
    assert page_error(response) == FORM_EXPIRED
    assert await db.count(User) == 0


async def test_signup_csrf_token_of_another_form_is_refused(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    login_page = await auth_client.get("/login")

    response = await auth_client.post(
        "/signup", data={**signup_form(), "csrf_token": csrf_from(login_page.text)}
    )

    assert response.status_code == 400
    assert page_error(response) == FORM_EXPIRED
    assert await db.count(User) == 0


# --- Settings ---


@pytest.mark.parametrize("setting_overrides", [{"signup_enabled": False}])
async def test_signup_disabled_returns_404_for_page_and_form(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    page = await auth_client.get("/signup")
    response = await auth_client.post("/signup", data=signup_form())

    assert page.status_code == 404
    assert response.status_code == 404
    assert await db.count(User) == 0
    login_page = await auth_client.get("/login")
    assert 'href="/signup' not in login_page.text


@pytest.mark.parametrize("setting_overrides", [{"signup_limit_per_ip": 2}])
async def test_signup_beyond_limit_per_ip_returns_429_with_retry_after(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient
) -> None:
    # Each attempt counts, whether or not it creates an account.
    assert (await post_signup(auth_client, email="bad")).status_code == 400
    assert (
        await post_signup(auth_client, username="first", email="1@example.com")
    ).status_code == 303

    response = await post_signup(auth_client, username="second", email="2@example.com")

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3600"  # the hour window, in whole seconds
    assert page_error(response) == "too many attempts, try again in 3600 s"
    assert [u.username for u in await db.all(User)] == ["first"]
    # Another address is not affected.
    async with browser(auth_app, ip="10.0.0.2") as elsewhere:
        other = await post_signup(elsewhere, username="third", email="3@example.com")
    assert other.status_code == 303


async def test_signup_writes_an_audit_row_and_no_password_anywhere(
    db: Database, auth_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    response = await post_signup(auth_client)

    assert response.status_code == 303
    (user,) = await db.all(User)
    (event,) = await db.all(AuditEvent, AuditEvent.event == "signup")
    assert (event.user_id, event.client_id, event.ip) == (user.id, None, "127.0.0.1")
    assert event.details == {}
    assert PASSWORD not in await database_text(db)
    logged = [f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records]
    assert any("audit signup" in line for line in logged), logged
    assert not any(PASSWORD in line for line in logged)


async def test_signup_while_signed_in_replaces_the_old_session(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    old = await sign_in(auth_client, user)

    response = await post_signup(auth_client)

    assert response.status_code == 303
    assert await db.get(UserSession, sha256_hex(old)) is None
    (session,) = await db.all(UserSession)
    assert session.id_hash == sha256_hex(set_cookie(response, SESSION_COOKIE)["value"])
