"""GET/POST /login and /logout: password login into a server-side session (RFC 9700 §4.4, §4.16)."""

from __future__ import annotations

import re

import httpx
import pytest

from auth_service.config import AuthSettings
from shared.models import PendingAuthorization, UserSession
from tests.factories import TestClient, TestUser, make_client, make_user
from tests.support.assertions import assert_error_page
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, csrf_from, login
from tests.support.pages import (
    BROWSER_COOKIE,
    SESSION_COOKIE,
    assert_page_security_headers,
    assert_step_redirect,
    set_cookie,
    set_cookie_names,
    sha256_hex,
    sign_in,
    start_authorization,
)

LOGIN_FAILED = "The username or password is not right."
FORM_EXPIRED = "This form has expired. Please try again."
EXPIRED_REQUEST = (
    "This sign-in request has expired or was already used. Go back to the app and try again."
)


@pytest.fixture
async def user(db: Database) -> TestUser:
    return await make_user(db, username="ada", password="correct horse battery")


@pytest.fixture
async def confidential_client(db: Database) -> TestClient:
    return await make_client(db, name="Notes App")


def input_value(html: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', html)
    assert match is not None, f"no input {name}"
    value = re.search(r'\bvalue="([^"]*)"', match.group(0))
    return value.group(1) if value else None


async def post_login(
    auth: httpx.AsyncClient, *, username: str, password: str, request_id: str = ""
) -> httpx.Response:
    page = await auth.get("/login", params={"request_id": request_id} if request_id else None)
    assert page.status_code == 200, page.text
    return await auth.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_from(page.text),
            "request_id": request_id,
        },
    )


# --- The page ---


async def test_login_page_renders_fields_and_csrf_token(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.get("/login")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert re.search(r'<form method="post" action="/login">', response.text)
    assert re.search(r'<input[^>]*name="username"[^>]*type="text"', response.text)
    assert re.search(r'<input[^>]*name="password"[^>]*type="password"', response.text)
    assert re.fullmatch(r"[0-9a-f]{64}", csrf_from(response.text))
    # The CSRF key lives in an HttpOnly cookie that cross-site POSTs do not carry.
    browser = set_cookie(response, BROWSER_COOKIE)
    assert browser["httponly"] == "True"
    assert browser["samesite"].lower() == "lax"
    assert SESSION_COOKIE not in set_cookie_names(response)


async def test_login_page_has_security_headers(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.get("/login")

    assert response.status_code == 200
    assert_page_security_headers(response)


async def test_login_page_with_pending_request_names_client_and_carries_request_id(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request_id = await start_authorization(auth_client, AuthorizationRequest(confidential_client))

    response = await auth_client.get("/login", params={"request_id": request_id})

    assert response.status_code == 200
    assert "to continue to <strong>Notes App</strong>" in response.text
    assert input_value(response.text, "request_id") == request_id


async def test_login_page_login_hint_prefills_username(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client, extra={"login_hint": "ada"})
    request_id = await start_authorization(auth_client, request)

    response = await auth_client.get("/login", params={"request_id": request_id})

    assert response.status_code == 200
    assert input_value(response.text, "username") == "ada"


async def test_login_page_login_hint_is_escaped(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    hint = '"><script>alert(1)</script>'
    request = AuthorizationRequest(confidential_client, extra={"login_hint": hint})
    request_id = await start_authorization(auth_client, request)

    response = await auth_client.get("/login", params={"request_id": request_id})

    assert response.status_code == 200
    assert "<script>" not in response.text
    assert (
        input_value(response.text, "username") == "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    )


async def test_login_page_without_login_hint_leaves_username_empty(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request_id = await start_authorization(auth_client, AuthorizationRequest(confidential_client))

    response = await auth_client.get("/login", params={"request_id": request_id})

    assert input_value(response.text, "username") == ""


async def test_login_page_with_expired_pending_request_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    settings: AuthSettings,
    clock: TestClock,
) -> None:
    request_id = await start_authorization(auth_client, AuthorizationRequest(confidential_client))
    clock.advance(settings.pending_request_ttl + 1)

    response = await auth_client.get("/login", params={"request_id": request_id})

    assert_error_page(response, EXPIRED_REQUEST)
    assert "<code>invalid_request</code>" in response.text
    assert 'name="password"' not in response.text


async def test_login_page_at_exact_pending_expiry_shows_error_page(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    settings: AuthSettings,
    clock: TestClock,
) -> None:
    request_id = await start_authorization(auth_client, AuthorizationRequest(confidential_client))
    clock.advance(settings.pending_request_ttl)

    response = await auth_client.get("/login", params={"request_id": request_id})

    assert_error_page(response, EXPIRED_REQUEST)


async def test_login_page_with_unknown_request_id_shows_error_page(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.get("/login", params={"request_id": "no-such-request"})

    assert_error_page(response, EXPIRED_REQUEST)


# --- Failed logins ---


async def test_login_wrong_password_and_unknown_username_look_the_same(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    wrong_password = await post_login(auth_client, username="ada", password="wrong password")
    unknown_user = await post_login(auth_client, username="bob", password="wrong password")

    for response in (wrong_password, unknown_user):
        assert response.status_code == 400, response.text
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")
        assert f'<p class="error" role="alert">{LOGIN_FAILED}</p>' in response.text
        assert SESSION_COOKIE not in set_cookie_names(response)
    # Apart from the echoed username, the two pages are identical.
    assert wrong_password.text.replace('value="ada"', 'value="X"') == unknown_user.text.replace(
        'value="bob"', 'value="X"'
    )
    assert await db.count(UserSession) == 0


async def test_login_wrong_password_keeps_pending_request(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request_id = await start_authorization(auth_client, AuthorizationRequest(confidential_client))

    response = await login(auth_client, user, request_id=request_id, password="wrong")

    assert response.status_code == 400
    assert input_value(response.text, "request_id") == request_id
    assert await db.get(PendingAuthorization, request_id) is not None
    assert await db.count(UserSession) == 0


async def test_login_wrong_password_does_not_echo_the_password(
    auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    response = await post_login(auth_client, username="ada", password="s3cret-guess")

    assert response.status_code == 400
    assert "s3cret-guess" not in response.text


@pytest.mark.parametrize("csrf_token", [None, "", "0" * 64, "not-a-token"])
async def test_login_missing_or_wrong_csrf_token_is_refused(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, csrf_token: str | None
) -> None:
    page = await auth_client.get("/login")
    data = {"username": user.username, "password": user.password}
    if csrf_token is not None:
        data["csrf_token"] = csrf_token

    response = await auth_client.post("/login", data=data)

    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert f'<p class="error" role="alert">{FORM_EXPIRED}</p>' in response.text
    assert SESSION_COOKIE not in set_cookie_names(response)
    assert await db.count(UserSession) == 0
    assert page.status_code == 200


async def test_login_csrf_token_without_browser_cookie_is_refused(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    page = await auth_client.get("/login")
    auth_client.cookies.clear()

    response = await auth_client.post(
        "/login",
        data={
            "username": user.username,
            "password": user.password,
            "csrf_token": csrf_from(page.text),
        },
    )

    assert response.status_code == 400, response.text
    assert await db.count(UserSession) == 0


async def test_login_csrf_token_from_another_browser_is_refused(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    # An attacker's own token (from their browser) does not work with the victim's cookie.
    attacker_page = await auth_client.get("/login")
    auth_client.cookies.clear()
    await auth_client.get("/login")

    response = await auth_client.post(
        "/login",
        data={
            "username": user.username,
            "password": user.password,
            "csrf_token": csrf_from(attacker_page.text),
        },
    )

    assert response.status_code == 400, response.text
    assert await db.count(UserSession) == 0


async def test_login_csrf_token_for_another_request_is_refused(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    first = await start_authorization(auth_client, AuthorizationRequest(confidential_client))
    second = await start_authorization(auth_client, AuthorizationRequest(confidential_client))
    first_page = await auth_client.get("/login", params={"request_id": first})

    response = await auth_client.post(
        "/login",
        data={
            "username": user.username,
            "password": user.password,
            "csrf_token": csrf_from(first_page.text),
            "request_id": second,
        },
    )

    assert response.status_code == 400, response.text
    assert await db.count(UserSession) == 0


async def test_login_post_with_expired_pending_request_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    settings: AuthSettings,
    clock: TestClock,
) -> None:
    request_id = await start_authorization(auth_client, AuthorizationRequest(confidential_client))
    page = await auth_client.get("/login", params={"request_id": request_id})
    clock.advance(settings.pending_request_ttl + 1)

    response = await auth_client.post(
        "/login",
        data={
            "username": user.username,
            "password": user.password,
            "csrf_token": csrf_from(page.text),
            "request_id": request_id,
        },
    )

    assert_error_page(response, EXPIRED_REQUEST)
    assert SESSION_COOKIE not in set_cookie_names(response)
    assert await db.count(UserSession) == 0


async def test_login_duplicate_password_field_is_refused(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    page = await auth_client.get("/login")
    body = httpx.QueryParams(
        {"username": user.username, "password": "wrong", "csrf_token": csrf_from(page.text)}
    ).add("password", user.password)

    response = await auth_client.post(
        "/login",
        content=str(body),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 400, response.text
    assert await db.count(UserSession) == 0


# --- Successful logins ---


async def test_login_success_sets_opaque_httponly_lax_session_cookie(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, settings: AuthSettings
) -> None:
    response = await login(auth_client, user)

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = set_cookie(response, SESSION_COOKIE)
    assert cookie["httponly"] == "True"
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == str(settings.session_ttl)
    # The issuer is http:// in tests; Secure follows the issuer's scheme.
    assert cookie["secure"] == "False"
    value = cookie["value"]
    assert re.fullmatch(r"[A-Za-z0-9_\-]{43,}", value)
    assert user.id not in value and user.username not in value
    sessions = await db.all(UserSession)
    assert [s.id_hash for s in sessions] == [sha256_hex(value)]
    assert sessions[0].user_id == user.id
    assert sessions[0].id_hash != value


async def test_login_success_with_pending_request_redirects_to_consent(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request_id = await start_authorization(auth_client, AuthorizationRequest(confidential_client))

    response = await login(auth_client, user, request_id=request_id)

    assert assert_step_redirect(response, "/consent") == request_id
    assert response.headers["location"] == f"/consent?request_id={request_id}"
    cookie = set_cookie(response, SESSION_COOKIE)
    assert await db.get(UserSession, sha256_hex(cookie["value"])) is not None
    # The request is still waiting for the consent step.
    assert await db.get(PendingAuthorization, request_id) is not None


async def test_login_username_is_case_insensitive(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    response = await post_login(auth_client, username="ADA", password=user.password)

    assert response.status_code == 303
    assert await db.count(UserSession) == 1


async def test_login_again_rotates_the_session_id(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    first = await sign_in(auth_client, user)

    second = await sign_in(auth_client, user)

    assert second != first
    assert await db.get(UserSession, sha256_hex(first)) is None
    sessions = await db.all(UserSession)
    assert [s.id_hash for s in sessions] == [sha256_hex(second)]


async def test_login_with_planted_session_cookie_issues_a_fresh_one(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    # Session fixation: a cookie value chosen by an attacker is never promoted to a session.
    planted = "attacker-chosen-session-value"
    auth_client.cookies.set(SESSION_COOKIE, planted, domain="auth.test")

    response = await login(auth_client, user)

    assert response.status_code == 303
    value = set_cookie(response, SESSION_COOKIE)["value"]
    assert value != planted
    assert await db.get(UserSession, sha256_hex(planted)) is None
    assert await db.count(UserSession) == 1


async def test_login_as_another_user_replaces_the_session(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    other = await make_user(db)
    first = await sign_in(auth_client, user)

    second = await sign_in(auth_client, other)

    assert await db.get(UserSession, sha256_hex(first)) is None
    row = await db.get(UserSession, sha256_hex(second))
    assert row is not None
    assert row.user_id == other.id


# --- Logout ---


async def test_logout_with_csrf_deletes_session_and_clears_cookie(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    value = await sign_in(auth_client, user)
    page = await auth_client.get("/logout")
    assert page.status_code == 200

    response = await auth_client.post("/logout", data={"csrf_token": csrf_from(page.text)})

    assert response.status_code == 200, response.text
    assert "You are signed out" in response.text
    assert await db.get(UserSession, sha256_hex(value)) is None
    assert await db.count(UserSession) == 0
    cleared = set_cookie(response, SESSION_COOKIE)
    assert cleared["value"] == ""
    assert cleared["max-age"] == "0"
    assert cleared["httponly"] == "True"
    assert SESSION_COOKIE not in auth_client.cookies


@pytest.mark.parametrize("csrf_token", [None, "0" * 64])
async def test_logout_without_valid_csrf_keeps_session(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, csrf_token: str | None
) -> None:
    # A cross-site form must not be able to log the user out.
    value = await sign_in(auth_client, user)
    data = {"csrf_token": csrf_token} if csrf_token is not None else {"request_id": ""}

    response = await auth_client.post("/logout", data=data)

    assert response.status_code == 400, response.text
    assert f'<p class="error" role="alert">{FORM_EXPIRED}</p>' in response.text
    assert await db.get(UserSession, sha256_hex(value)) is not None
    assert SESSION_COOKIE not in set_cookie_names(response)


async def test_logout_with_login_form_csrf_token_keeps_session(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    # Tokens are bound to their purpose: the login form's token cannot log anybody out.
    login_page = await auth_client.get("/login")
    value = await sign_in(auth_client, user)

    response = await auth_client.post("/logout", data={"csrf_token": csrf_from(login_page.text)})

    assert response.status_code == 400, response.text
    assert await db.get(UserSession, sha256_hex(value)) is not None


async def test_logout_page_has_security_headers(
    auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)

    response = await auth_client.get("/logout")

    assert response.status_code == 200
    assert_page_security_headers(response)
