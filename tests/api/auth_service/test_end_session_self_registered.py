"""RP-initiated logout for clients nobody vetted (developer portal, RFC 7591 registration): their
post-logout URI is followed only when an unexpired id_token_hint names the user whose session
ends (RP-Initiated Logout 1.0 §2-§3, RFC 9700 §4.11.2). Otherwise our own page shows the link
and the host it leads to, so registering a client cannot turn the logout URL into an open
redirector aimed at other people."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.clients.registry import ClientSpec, register_client
from auth_service.config import AuthSettings
from shared.models import AuditEvent, Client, UserSession
from tests.factories import REDIRECT_URI, TestClient, TestUser, make_user
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import csrf_from
from tests.support.oidc import browser, code_flow_tokens, hidden_fields, logout_url
from tests.support.pages import SESSION_COOKIE, sign_in

INITIAL_TOKEN = "initial-access-token-for-logout-tests"  # noqa: S105 - test credential
EVIL_URI = "https://evil.example/after"
# Credentials in front of the host: only the part after "@" is where the browser goes.
DISGUISED_URI = "https://trusted-bank.example@evil.example/after"
STATE = "st-42"
SELF_CHOSEN_NAME = "Trusted Bank"


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    return settings.model_copy(update={"registration_initial_access_token": INITIAL_TOKEN})


@pytest.fixture(params=["dynamic_registration", "developer_portal"])
async def rogue(request: pytest.FixtureRequest, db: Database, auth_app: FastAPI) -> TestClient:
    """A client anyone could have registered, with a post-logout URI of the registrant's choice."""
    uris = [EVIL_URI, DISGUISED_URI]
    if request.param == "dynamic_registration":
        metadata = {
            "client_name": SELF_CHOSEN_NAME,
            "redirect_uris": [REDIRECT_URI],
            "post_logout_redirect_uris": uris,
            "scope": "openid profile",
        }
        async with browser(auth_app) as http:
            response = await http.post(
                "/oauth/register",
                json=metadata,
                headers={"Authorization": f"Bearer {INITIAL_TOKEN}"},
            )
        assert response.status_code == 201, response.text
        body = response.json()
        client = await db.get(Client, body["client_id"])
        assert client is not None and not client.is_vetted
        return TestClient(client, body["client_secret"])
    developer = await make_user(db)
    spec = ClientSpec(
        name=SELF_CHOSEN_NAME,
        redirect_uris=[REDIRECT_URI],
        scope="openid profile",
        post_logout_redirect_uris=uris,
    )
    registered = await db.run(
        lambda repos: register_client(repos, spec, now=datetime.now(UTC), owner_id=developer.id)
    )
    assert not registered.client.is_vetted
    return TestClient(registered.client, registered.client_secret)


async def attackers_id_token(db: Database, auth_app: FastAPI, rogue: TestClient) -> str:
    """The registrant signs in to their own client and keeps the ID token."""
    attacker = await make_user(db)
    async with browser(auth_app) as own_browser:
        _, tokens = await code_flow_tokens(own_browser, rogue, attacker)
    token: str = tokens["id_token"]
    return token


def evil_logout(hint: str, uri: str = EVIL_URI) -> str:
    return logout_url({"id_token_hint": hint, "post_logout_redirect_uri": uri, "state": STATE})


def assert_signed_out_page_with_link(response: httpx.Response, uri: str, host: str) -> None:
    """200, our page, no redirect; a link the user may follow and the host it really leads to."""
    assert response.status_code == 200, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "You are signed out of MyAuthProvider." in response.text
    link = html.escape(f"{uri}?state={STATE}", quote=True)
    assert f'<a class="button primary" href="{link}" rel="noreferrer">' in response.text
    assert f"<strong>{host}</strong>" in response.text
    assert f"Continue to {host}</a>" in response.text
    assert f"{SELF_CHOSEN_NAME} asks to send you on to" in response.text


async def logout_events(db: Database) -> list[str | None]:
    return [event.user_id for event in await db.all(AuditEvent, AuditEvent.event == "logout")]


async def test_end_session_self_registered_hint_of_the_signed_in_user_redirects(
    db: Database, auth_client: httpx.AsyncClient, rogue: TestClient, user: TestUser
) -> None:
    _, tokens = await code_flow_tokens(auth_client, rogue, user)

    response = await auth_client.get(evil_logout(tokens["id_token"]))

    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{EVIL_URI}?state={STATE}"
    assert await db.count(UserSession) == 0
    assert auth_client.cookies.get(SESSION_COOKIE) is None
    assert await logout_events(db) == [user.id]


async def test_end_session_self_registered_attackers_hint_asks_the_victim_and_never_redirects(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    rogue: TestClient,
    user: TestUser,
) -> None:
    hint = await attackers_id_token(db, auth_app, rogue)
    await sign_in(auth_client, user)
    sessions_before = await db.count(UserSession)

    asked = await auth_client.get(evil_logout(hint))

    assert asked.status_code == 200, asked.text
    assert "Afterwards it asks to send you to <strong>evil.example</strong>." in asked.text
    assert await db.count(UserSession, UserSession.user_id == user.id) == 1
    assert await logout_events(db) == []
    fields = hidden_fields(asked.text)
    assert fields["csrf_token"] == csrf_from(asked.text)

    response = await auth_client.post("/oauth/logout", data={**fields, "confirm": "yes"})

    assert_signed_out_page_with_link(response, EVIL_URI, "evil.example")
    assert await db.count(UserSession, UserSession.user_id == user.id) == 0
    assert await db.count(UserSession) == sessions_before - 1  # the attacker's own is untouched
    assert await logout_events(db) == [user.id]


async def test_end_session_self_registered_attackers_hint_to_a_visitor_without_session_shows_link(
    db: Database, auth_app: FastAPI, rogue: TestClient
) -> None:
    hint = await attackers_id_token(db, auth_app, rogue)
    sessions_before = await db.count(UserSession)

    async with browser(auth_app) as visitor:
        response = await visitor.get(evil_logout(hint))

    assert_signed_out_page_with_link(response, EVIL_URI, "evil.example")
    assert await db.count(UserSession) == sessions_before
    assert await logout_events(db) == []


async def test_end_session_self_registered_page_names_the_real_host_of_a_disguised_uri(
    db: Database, auth_app: FastAPI, rogue: TestClient
) -> None:
    hint = await attackers_id_token(db, auth_app, rogue)

    async with browser(auth_app) as visitor:
        response = await visitor.get(evil_logout(hint, DISGUISED_URI))

    assert_signed_out_page_with_link(response, DISGUISED_URI, "evil.example")
    assert "<strong>trusted-bank.example" not in response.text


async def test_end_session_self_registered_expired_hint_of_the_signed_in_user_is_not_followed(
    db: Database,
    auth_client: httpx.AsyncClient,
    rogue: TestClient,
    user: TestUser,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    # RP-Initiated Logout §2 accepts an expired hint, but it no longer proves the session.
    _, tokens = await code_flow_tokens(auth_client, rogue, user)
    # The browser is used half way, so its session outlives its idle timeout meanwhile.
    half = (settings.id_token_ttl + settings.leeway + 1) / 2
    clock.advance(half)
    assert (await auth_client.get("/")).status_code == 200
    clock.advance(half)

    asked = await auth_client.get(evil_logout(tokens["id_token"]))

    assert asked.status_code == 200, asked.text
    assert '<form method="post" action="/oauth/logout">' in asked.text
    assert await db.count(UserSession) == 1
    fields: dict[str, Any] = hidden_fields(asked.text)
    response = await auth_client.post("/oauth/logout", data={**fields, "confirm": "yes"})

    assert_signed_out_page_with_link(response, EVIL_URI, "evil.example")
    assert await db.count(UserSession) == 0
    assert await logout_events(db) == [user.id]


async def test_end_session_self_registered_hint_of_an_ended_session_is_not_followed(
    db: Database, auth_app: FastAPI, rogue: TestClient, user: TestUser
) -> None:
    # The user's own, unexpired token, but their session is already over: no session is being
    # ended, so nothing shows the browser at hand is theirs.
    async with browser(auth_app) as earlier:
        _, tokens = await code_flow_tokens(earlier, rogue, user)
    await db.run(lambda repos: repos.sessions.delete_all_for_user(user.id))

    async with browser(auth_app) as fresh:
        response = await fresh.get(evil_logout(tokens["id_token"]))

    assert_signed_out_page_with_link(response, EVIL_URI, "evil.example")
    assert await logout_events(db) == []
