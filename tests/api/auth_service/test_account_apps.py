"""/account/apps: the apps a user allowed, and taking that back (RFC 7009 §2.1, RFC 9700 §4.4, §4.14.2)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col

from auth_service.oauth.revocation import DENY_MARGIN
from shared.models import AuditEvent, Consent, Grant, RefreshToken, RevocationEvent
from tests.conftest import ISSUER
from tests.factories import TestClient, TestUser, make_client, make_user
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, csrf_from, get_code, tokens_for
from tests.support.pages import (
    SESSION_COOKIE,
    assert_page_security_headers,
    assert_step_redirect,
    remember_consent,
    sign_in,
)
from tests.support.token_endpoint import refresh

APPS = "/account/apps"
REVOKE = "/account/apps/revoke"
LOGIN_FOR_APPS = "/login?next=/account/apps"
REVOKED_NOTICE = "Access removed. The app has been signed out and must ask you again."
EXPIRED_NOTICE = "That form had expired. Please try again."
NO_APPS = "No app has access to your account."

# The plain words the page must use for each scope (the consent screen's wording, sentence-cased).
SCOPE_WORDS = {
    "openid": "Confirm who you are (sign you in with your MyAuthProvider account)",
    "profile": "See your username and display name",
    "email": "See your email address",
    "read:notes": "Read your notes",
    "offline_access": "Keep access while you are not using the app",
}

_APP_ITEM = re.compile(r'<li class="app">(.*?)</form>', re.DOTALL)
_SCOPE_LIST = re.compile(r'<ul class="scopes">(.*?)</ul>', re.DOTALL)


@dataclass(frozen=True)
class ListedApp:
    client_id: str
    name: str  # as written in the HTML, escaped
    dates: str
    scopes: list[str]


def listed_apps(page: str) -> list[ListedApp]:
    """The apps on the connected-apps page, in page order."""
    apps = []
    for item in _APP_ITEM.findall(page):
        scopes = _SCOPE_LIST.search(item)
        assert scopes is not None, item
        apps.append(
            ListedApp(
                client_id=_one(r'name="client_id" value="([^"]*)"', item),
                name=_one(r"<h2>(.*?)</h2>", item),
                dates=_one(r'<p class="small">(.*?)</p>', item),
                scopes=re.findall(r"<li>(.*?)</li>", scopes.group(1)),
            )
        )
    return apps


def _one(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.DOTALL)
    assert match is not None, (pattern, text)
    return match.group(1)


def utc_minute(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%d %H:%M UTC")


@asynccontextmanager
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser (its own cookie jar) on the same auth app."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def notes_app(db: Database) -> TestClient:
    return await make_client(db, name="Notes App")


@pytest.fixture
async def mail_app(db: Database) -> TestClient:
    return await make_client(db, name="Mail App")


async def connect(
    auth: httpx.AsyncClient, client: TestClient, user: TestUser, scope: str
) -> dict[str, Any]:
    """The user allows `client` `scope` through the real flow (logging in first if needed)."""
    return await tokens_for(auth, AuthorizationRequest(client, scope=scope), user)


async def revoke_form(auth: httpx.AsyncClient) -> str:
    page = await auth.get(APPS)
    assert page.status_code == 200, page.text
    return csrf_from(page.text)


async def post_revoke(
    auth: httpx.AsyncClient, client_id: str, csrf_token: str | None
) -> httpx.Response:
    data = {"client_id": client_id}
    if csrf_token is not None:
        data["csrf_token"] = csrf_token
    return await auth.post(REVOKE, data=data)


async def grants_of(db: Database, user: TestUser, client: TestClient) -> list[Grant]:
    rows = await db.all(Grant, Grant.user_id == user.id, Grant.client_id == client.client_id)
    return sorted(rows, key=lambda g: g.created_at)


async def assert_untouched(db: Database, user: TestUser, client: TestClient) -> None:
    assert await db.get(Consent, (user.id, client.client_id)) is not None
    grants = await grants_of(db, user, client)
    assert grants
    assert [g.revoked_at for g in grants] == [None] * len(grants)
    tokens = await db.all(RefreshToken, col(RefreshToken.grant_id).in_([g.id for g in grants]))
    assert [t.revoked_at for t in tokens] == [None] * len(tokens)


# --- Reaching the page: login first, and `next` ---


async def test_account_apps_without_session_redirects_to_login_with_next(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.get(APPS)

    assert response.status_code == 303, response.text
    assert response.headers["location"] == LOGIN_FOR_APPS


async def test_account_apps_login_through_next_form_lands_on_apps_page(
    auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    redirect = await auth_client.get(APPS)
    form = await auth_client.get(redirect.headers["location"])
    assert form.status_code == 200, form.text
    assert 'name="next" value="/account/apps"' in form.text

    response = await auth_client.post(
        "/login",
        data={
            "username": user.username,
            "password": user.password,
            "csrf_token": csrf_from(form.text),
            "request_id": "",
            "next": _one(r'name="next" value="([^"]*)"', form.text),
        },
    )

    assert response.status_code == 303, response.text
    assert response.headers["location"] == APPS
    page = await auth_client.get(response.headers["location"])
    assert page.status_code == 200, page.text
    assert "<h1>Connected apps</h1>" in page.text
    assert f"<strong>{user.username}</strong>" in page.text


OFF_SITE_NEXT = [
    "//evil.example",
    "//evil.example/account/apps",
    "https://evil.example",
    "http:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/account/apps\r\nLocation: https://evil.example",
    "javascript:alert(1)",
    " /account/apps",
    "evil.example",
]


@pytest.mark.parametrize("next_value", OFF_SITE_NEXT)
async def test_login_next_that_could_leave_the_site_is_ignored_and_lands_on_home(
    auth_client: httpx.AsyncClient, user: TestUser, next_value: str
) -> None:
    form = await auth_client.get("/login")

    response = await auth_client.post(
        "/login",
        data={
            "username": user.username,
            "password": user.password,
            "csrf_token": csrf_from(form.text),
            "request_id": "",
            "next": next_value,
        },
    )

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"


@pytest.mark.parametrize("next_value", OFF_SITE_NEXT)
async def test_login_page_next_that_could_leave_the_site_is_not_carried_in_the_form(
    auth_client: httpx.AsyncClient, next_value: str
) -> None:
    form = await auth_client.get("/login?" + urlencode({"next": next_value}))

    assert form.status_code == 200, form.text
    assert 'name="next" value=""' in form.text
    assert "evil.example" not in form.text


async def test_account_apps_revoke_without_session_redirects_to_login_and_changes_nothing(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    notes_app: TestClient,
    user: TestUser,
) -> None:
    await connect(auth_client, notes_app, user, "openid profile")

    async with browser(auth_app) as stranger:
        response = await post_revoke(stranger, notes_app.client_id, "x" * 64)

    assert response.status_code == 303, response.text
    assert response.headers["location"] == LOGIN_FOR_APPS
    await assert_untouched(db, user, notes_app)


# --- The list ---


async def test_account_apps_lists_each_consented_client_with_scopes_granted_and_last_used(
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    notes_app: TestClient,
    mail_app: TestClient,
    user: TestUser,
) -> None:
    notes_tokens = await connect(auth_client, notes_app, user, "openid profile offline_access")
    clock.advance(90 * 60)
    await connect(auth_client, mail_app, user, "openid email read:notes")
    clock.advance(3 * 3600)
    refreshed = await refresh(auth_client, notes_app, notes_tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    await sign_in(auth_client, user)  # three idle hours ended the browser's session

    page = await auth_client.get(APPS)

    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    notes_consent = await db.get(Consent, (user.id, notes_app.client_id))
    mail_consent = await db.get(Consent, (user.id, mail_app.client_id))
    assert notes_consent is not None and mail_consent is not None
    (notes_grant,) = await grants_of(db, user, notes_app)
    (mail_grant,) = await grants_of(db, user, mail_app)
    assert notes_grant.last_used_at is not None and mail_grant.last_used_at is not None
    assert notes_grant.last_used_at - notes_consent.created_at >= timedelta(hours=4)
    assert listed_apps(page.text) == [
        ListedApp(
            client_id=notes_app.client_id,
            name="Notes App",
            dates=f"Allowed {utc_minute(notes_consent.created_at)}"
            f" · last used {utc_minute(notes_grant.last_used_at)}",
            scopes=[SCOPE_WORDS["openid"], SCOPE_WORDS["profile"], SCOPE_WORDS["offline_access"]],
        ),
        ListedApp(
            client_id=mail_app.client_id,
            name="Mail App",
            dates=f"Allowed {utc_minute(mail_consent.created_at)}"
            f" · last used {utc_minute(mail_grant.last_used_at)}",
            scopes=[SCOPE_WORDS["openid"], SCOPE_WORDS["email"], SCOPE_WORDS["read:notes"]],
        ),
    ]


async def test_account_apps_consent_never_used_shows_no_last_used(
    auth_client: httpx.AsyncClient, db: Database, notes_app: TestClient, user: TestUser
) -> None:
    await remember_consent(db, user, notes_app, "openid profile")
    await sign_in(auth_client, user)

    page = await auth_client.get(APPS)

    consent = await db.get(Consent, (user.id, notes_app.client_id))
    assert consent is not None
    (app,) = listed_apps(page.text)
    assert app.dates == f"Allowed {utc_minute(consent.created_at)}"
    assert "last used" not in page.text


async def test_account_apps_without_consents_says_no_app_has_access(
    auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)

    page = await auth_client.get(APPS)

    assert page.status_code == 200, page.text
    assert NO_APPS in page.text
    assert listed_apps(page.text) == []


async def test_account_apps_client_name_is_html_escaped(
    auth_client: httpx.AsyncClient, db: Database, user: TestUser
) -> None:
    hostile = await make_client(db, name='<script>alert("x")</script> & Co')
    await remember_consent(db, user, hostile, "openid")
    await sign_in(auth_client, user)

    page = await auth_client.get(APPS)

    (app,) = listed_apps(page.text)
    assert app.name == "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co"
    assert "<script>" not in page.text


async def test_account_apps_page_cannot_be_framed_or_leak_referer(
    auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)

    page = await auth_client.get(APPS)

    assert page.status_code == 200, page.text
    assert_page_security_headers(page)


async def test_account_apps_does_not_list_another_users_apps(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    notes_app: TestClient,
    mail_app: TestClient,
    user: TestUser,
) -> None:
    other = await make_user(db)
    async with browser(auth_app) as other_browser:
        await connect(other_browser, mail_app, other, "openid email")
    await connect(auth_client, notes_app, user, "openid profile")

    page = await auth_client.get(APPS)

    assert [app.client_id for app in listed_apps(page.text)] == [notes_app.client_id]
    assert "Mail App" not in page.text


# --- Revoking ---


WRONG_CSRF = ["missing", "garbage", "login_form", "other_browser", "previous_session"]


async def wrong_csrf_token(
    kind: str,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    user: TestUser,
    client: TestClient,
) -> str | None:
    if kind == "missing":
        return None
    if kind == "garbage":
        return "0" * 64
    if kind == "login_form":
        return csrf_from((await auth_client.get("/login")).text)
    if kind == "other_browser":
        other = await make_user(db)
        await remember_consent(db, other, client, "openid")
        async with browser(auth_app) as other_browser:
            await sign_in(other_browser, other)
            return await revoke_form(other_browser)
    assert kind == "previous_session"
    token = await revoke_form(auth_client)
    await sign_in(auth_client, user)  # a new session id: tokens bound to the old one are void
    return token


@pytest.mark.parametrize("kind", WRONG_CSRF)
async def test_account_apps_revoke_without_valid_csrf_token_changes_nothing(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    notes_app: TestClient,
    user: TestUser,
    kind: str,
) -> None:
    await connect(auth_client, notes_app, user, "openid profile offline_access")
    csrf_token = await wrong_csrf_token(kind, auth_app, auth_client, db, user, notes_app)

    response = await post_revoke(auth_client, notes_app.client_id, csrf_token)

    # RFC 9700 §4.4: a state-changing form must carry a token bound to this browser and session.
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{APPS}?message=expired"
    await assert_untouched(db, user, notes_app)
    assert await db.count(RevocationEvent) == 0
    assert await db.count(AuditEvent, AuditEvent.event == "consent_revoked") == 0
    page = await auth_client.get(response.headers["location"])
    assert EXPIRED_NOTICE in page.text
    assert [app.client_id for app in listed_apps(page.text)] == [notes_app.client_id]


async def test_account_apps_revoke_deletes_consent_and_revokes_every_grant_of_that_client(
    auth_client: httpx.AsyncClient,
    db: Database,
    clock: TestClock,
    notes_app: TestClient,
    mail_app: TestClient,
    user: TestUser,
) -> None:
    await connect(auth_client, notes_app, user, "openid profile offline_access")
    await connect(auth_client, notes_app, user, "openid profile")  # a second family, same app
    await connect(auth_client, mail_app, user, "openid email")
    csrf_token = await revoke_form(auth_client)
    before = clock()

    response = await post_revoke(auth_client, notes_app.client_id, csrf_token)

    after = clock()
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{APPS}?message=revoked"
    assert await db.get(Consent, (user.id, notes_app.client_id)) is None
    grants = await grants_of(db, user, notes_app)
    assert len(grants) == 2
    revoked_at = grants[0].revoked_at
    assert revoked_at is not None and before <= revoked_at <= after
    assert [g.revoked_at for g in grants] == [revoked_at, revoked_at]
    tokens = await db.all(RefreshToken, RefreshToken.client_id == notes_app.client_id)
    assert len(tokens) == 2
    assert [t.revoked_at for t in tokens] == [revoked_at, revoked_at]
    # Published so resource servers refuse the families' access tokens until they expire anyway.
    # Remembered until the family's last access token has expired, plus the verifiers' leeway.
    expected = []
    for grant in grants:
        assert grant.access_expires_at is not None
        expected.append(("grant", grant.id, revoked_at, grant.access_expires_at + DENY_MARGIN))
    events = await db.all(RevocationEvent)
    assert sorted((e.kind, e.value, e.created_at, e.expires_at) for e in events) == sorted(expected)
    (audit,) = await db.all(AuditEvent, AuditEvent.event == "consent_revoked")
    assert (audit.user_id, audit.client_id) == (user.id, notes_app.client_id)
    await assert_untouched(db, user, mail_app)
    page = await auth_client.get(response.headers["location"])
    assert REVOKED_NOTICE in page.text
    assert [app.client_id for app in listed_apps(page.text)] == [mail_app.client_id]


async def test_account_apps_revoke_of_only_app_leaves_an_empty_list(
    auth_client: httpx.AsyncClient, notes_app: TestClient, user: TestUser
) -> None:
    await connect(auth_client, notes_app, user, "openid profile")

    response = await post_revoke(auth_client, notes_app.client_id, await revoke_form(auth_client))

    page = await auth_client.get(response.headers["location"])
    assert page.status_code == 200, page.text
    assert NO_APPS in page.text
    assert listed_apps(page.text) == []


async def test_account_apps_revoke_makes_refresh_tokens_invalid_grant(
    auth_client: httpx.AsyncClient, notes_app: TestClient, user: TestUser
) -> None:
    first = await connect(auth_client, notes_app, user, "openid profile offline_access")
    second = await connect(auth_client, notes_app, user, "openid profile")
    rotated = (await refresh(auth_client, notes_app, second["refresh_token"])).json()

    await post_revoke(auth_client, notes_app.client_id, await revoke_form(auth_client))

    # RFC 7009 §2.1 / RFC 6749 §5.2: a revoked refresh token is an invalid grant.
    for refresh_token in (first["refresh_token"], rotated["refresh_token"]):
        response = await refresh(auth_client, notes_app, refresh_token)
        assert_oauth_error(response, "invalid_grant", description="refresh token was revoked")


async def test_account_apps_revoke_next_authorization_asks_for_consent_again(
    auth_client: httpx.AsyncClient, notes_app: TestClient, user: TestUser
) -> None:
    await connect(auth_client, notes_app, user, "openid profile")
    await post_revoke(auth_client, notes_app.client_id, await revoke_form(auth_client))

    response = await auth_client.get(AuthorizationRequest(notes_app, scope="openid profile").url())

    request_id = assert_step_redirect(response, "/consent")
    page = await auth_client.get(response.headers["location"])
    assert page.status_code == 200, page.text
    assert f'name="request_id" value="{request_id}"' in page.text
    assert "Notes App" in page.text


async def test_account_apps_revoke_outstanding_code_cannot_be_redeemed(
    auth_client: httpx.AsyncClient, notes_app: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(notes_app, scope="openid profile")
    await connect(auth_client, notes_app, user, "openid profile")
    code = await get_code(auth_client, request, user)
    await post_revoke(auth_client, notes_app.client_id, await revoke_form(auth_client))

    response = await auth_client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": request.verifier,
        },
        auth=notes_app.basic_auth(),
    )

    assert_oauth_error(response, "invalid_grant", description="the authorization was revoked")


async def test_account_apps_revoke_resource_api_refuses_access_token_after_next_poll(
    auth_client: httpx.AsyncClient,
    notes_app: TestClient,
    mail_app: TestClient,
    user: TestUser,
    resource_app: FastAPI,  # after the factories: its background polls hold the write lock
    resource_client: httpx.AsyncClient,
) -> None:
    notes_tokens = await connect(auth_client, notes_app, user, "openid profile")
    mail_tokens = await connect(auth_client, mail_app, user, "openid profile")
    accepted = await resource_client.get("/api/v1/me", headers=bearer(notes_tokens["access_token"]))
    assert accepted.status_code == 200, accepted.text

    await post_revoke(auth_client, notes_app.client_id, await revoke_form(auth_client))
    assert await resource_app.state.revocation_feed.poll() is True

    refused = await resource_client.get("/api/v1/me", headers=bearer(notes_tokens["access_token"]))
    assert_oauth_error(
        refused, "invalid_token", status=401, description="the access token was revoked"
    )
    assert refused.headers["www-authenticate"].startswith("Bearer ")
    other = await resource_client.get("/api/v1/me", headers=bearer(mail_tokens["access_token"]))
    assert other.status_code == 200, other.text


async def test_account_apps_revoke_another_users_client_id_changes_nothing(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    notes_app: TestClient,
    mail_app: TestClient,
    user: TestUser,
) -> None:
    other = await make_user(db)
    async with browser(auth_app) as other_browser:
        await connect(other_browser, mail_app, other, "openid email offline_access")
    await connect(auth_client, notes_app, user, "openid profile")  # so the page has a form

    response = await post_revoke(auth_client, mail_app.client_id, await revoke_form(auth_client))

    assert response.status_code == 303, response.text
    assert response.headers["location"] == APPS
    await assert_untouched(db, other, mail_app)
    await assert_untouched(db, user, notes_app)
    assert await db.count(RevocationEvent) == 0
    assert await db.count(AuditEvent, AuditEvent.event == "consent_revoked") == 0


async def test_account_apps_revoke_shared_client_affects_only_own_grants(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    notes_app: TestClient,
    user: TestUser,
) -> None:
    other = await make_user(db)
    async with browser(auth_app) as other_browser:
        await connect(other_browser, notes_app, other, "openid profile offline_access")
    await connect(auth_client, notes_app, user, "openid profile offline_access")

    response = await post_revoke(auth_client, notes_app.client_id, await revoke_form(auth_client))

    assert response.headers["location"] == f"{APPS}?message=revoked"
    (own,) = await grants_of(db, user, notes_app)
    assert own.revoked_at is not None
    await assert_untouched(db, other, notes_app)
    assert [(e.kind, e.value) for e in await db.all(RevocationEvent)] == [("grant", own.id)]


async def test_account_apps_revoke_unknown_client_id_changes_nothing(
    auth_client: httpx.AsyncClient, db: Database, notes_app: TestClient, user: TestUser
) -> None:
    await connect(auth_client, notes_app, user, "openid profile")

    response = await post_revoke(auth_client, "no-such-client", await revoke_form(auth_client))

    assert response.status_code == 303, response.text
    assert response.headers["location"] == APPS
    await assert_untouched(db, user, notes_app)
    assert await db.count(RevocationEvent) == 0


async def test_account_apps_revoke_keeps_the_session(
    auth_client: httpx.AsyncClient, notes_app: TestClient, user: TestUser
) -> None:
    await connect(auth_client, notes_app, user, "openid profile")
    session_before = auth_client.cookies.get(SESSION_COOKIE)

    response = await post_revoke(auth_client, notes_app.client_id, await revoke_form(auth_client))

    assert SESSION_COOKIE not in response.cookies
    assert auth_client.cookies.get(SESSION_COOKIE) == session_before
    page = await auth_client.get(APPS)
    assert page.status_code == 200, page.text
