"""CoolNotesApp's server side, without a browser: token refresh, sessions, forms, back channel.

The refresh tests run NotesApi against the real auth and resource apps in-process (root
conftest), with tokens from a real code flow; the journeys in Chromium cannot reach these paths
in a test's time (an access token lives 15 minutes).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from coolnotes.app import create_app
from coolnotes.config import CoolNotesSettings
from coolnotes.http import httpx as coolnotes_http
from coolnotes.notes_api import LoginRequired, NotesApi
from coolnotes.provider import http_options
from coolnotes.sessions import COOKIE, MemorySessionStore, ServerSessionMiddleware, Session
from tests.conftest import AUDIENCE, ISSUER
from tests.factories import TestClient, TestUser
from tests.support.flows import AuthorizationRequest, tokens_for

SCOPE = "openid profile read:notes write:notes offline_access"


def _settings(**overrides: Any) -> CoolNotesSettings:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "api_url": AUDIENCE,
        "client_id": "coolnotes",
        "client_secret": "s3cret",
        **overrides,
    }
    return CoolNotesSettings(_env_file=None, **values)  # type: ignore[call-arg]


# --- refreshing the access token (notes_api.py) --------------------------------------------------


@pytest.fixture
async def signed_in(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> Session:
    """A CoolNotesApp session holding a real token set, as after /auth/callback."""
    request = AuthorizationRequest(confidential_client, scope=SCOPE)
    tokens = await tokens_for(auth_client, request, user)
    session = Session()
    session["token"] = {**tokens, "expires_at": int(time.time()) + tokens["expires_in"]}
    return session


@pytest.fixture
async def notes_api(
    signed_in: Session,
    confidential_client: TestClient,
    auth_app: FastAPI,
    resource_app: FastAPI,
) -> AsyncIterator[NotesApi]:
    settings = _settings(
        client_id=confidential_client.client_id, client_secret=confidential_client.secret
    )
    mounts = {
        # The transports of the library Authlib runs on (coolnotes.http).
        f"{ISSUER}": coolnotes_http.ASGITransport(app=auth_app),
        f"{AUDIENCE}": coolnotes_http.ASGITransport(app=resource_app),
    }
    yield NotesApi(settings, f"{ISSUER}/oauth/token", signed_in, http={"mounts": mounts})


async def test_notes_api_expired_access_token_is_refreshed_before_the_call(
    notes_api: NotesApi, signed_in: Session
) -> None:
    before = dict(signed_in["token"])
    signed_in["token"]["expires_at"] = int(time.time()) - 1

    page = await notes_api.page()

    after = signed_in["token"]
    assert page.items == [] and page.next_cursor is None
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]  # rotated, and the new one kept
    assert after["id_token"] is not None and after["expires_at"] > time.time()


async def test_notes_api_401_refreshes_once_and_retries(
    notes_api: NotesApi, signed_in: Session
) -> None:
    before = dict(signed_in["token"])
    signed_in["token"]["access_token"] = "refused-by-the-api"  # e.g. revoked, or clocks disagree

    errors = await notes_api.create("after a 401", "")
    page = await notes_api.page()

    assert errors == []
    assert [item["title"] for item in page.items] == ["after a 401"]
    assert signed_in["token"]["refresh_token"] != before["refresh_token"]


async def test_notes_api_refused_refresh_token_raises_login_required(
    notes_api: NotesApi, signed_in: Session
) -> None:
    signed_in["token"].update(access_token="refused", refresh_token="unknown-refresh-token")

    with pytest.raises(LoginRequired):
        await notes_api.page()


async def test_notes_api_without_a_token_raises_login_required(notes_api: NotesApi) -> None:
    notes_api.session.clear()

    with pytest.raises(LoginRequired):
        await notes_api.page()


async def test_notes_api_validation_errors_come_back_as_messages(notes_api: NotesApi) -> None:
    errors = await notes_api.create("t" * 201, "")

    assert errors == ["Title: String should have at most 200 characters"]


# --- the back channel in compose (provider.py) ----------------------------------------------------


async def test_back_channel_sends_issuer_requests_to_the_internal_url_only() -> None:
    settings = _settings(issuer="http://localhost:8000", issuer_internal_url="http://auth:8000")
    seen: list[tuple[str, str]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers["host"]))
        return httpx.Response(200)

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(record), **http_options(settings)
    ) as client:
        await client.post("http://localhost:8000/oauth/token")
        await client.get("http://resource:8001/api/v1/notes")
        await client.get("http://localhost:8002/")

    assert seen == [
        ("http://auth:8000/oauth/token", "localhost:8000"),
        ("http://resource:8001/api/v1/notes", "resource:8001"),
        ("http://localhost:8002/", "localhost:8002"),
    ]


def test_back_channel_is_off_without_an_internal_url() -> None:
    assert http_options(_settings()) == {"timeout": 5.0}


# --- server-side sessions (sessions.py) -----------------------------------------------------------


async def _session_action(request: Request) -> PlainTextResponse:
    session: Session = request.session  # type: ignore[assignment]
    action = request.path_params["action"]
    if action == "set":
        session["user"] = "ada"
    elif action == "sign-in":
        session.regenerate()
    elif action == "clear":
        session.clear()
    return PlainTextResponse(str(session.get("user")))


@pytest.fixture
def store() -> MemorySessionStore:
    return MemorySessionStore(ttl=60)


@pytest.fixture
async def browser(store: MemorySessionStore) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Route("/{action}", _session_action)])
    wrapped = ServerSessionMiddleware(app, store=store, secure=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=wrapped), base_url="http://app.test"
    ) as client:
        yield client


async def test_session_cookie_is_an_opaque_httponly_lax_id(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/set")

    value, *attributes = response.headers["set-cookie"].split("; ")
    name, _, session_id = value.partition("=")
    assert (name, len(session_id)) == (COOKIE, 43)  # 256 random bits, base64url
    assert attributes == ["Path=/", "HttpOnly", "SameSite=Lax"]
    assert "ada" not in response.headers["set-cookie"]
    assert (await browser.get("/read")).text == "ada"


async def test_session_visitor_without_data_gets_no_cookie(browser: httpx.AsyncClient) -> None:
    response = await browser.get("/read")

    assert "set-cookie" not in response.headers


async def test_session_regenerate_moves_data_to_a_new_id(
    browser: httpx.AsyncClient, store: MemorySessionStore
) -> None:
    await browser.get("/set")
    old_id = browser.cookies[COOKIE]

    await browser.get("/sign-in")

    assert browser.cookies[COOKIE] != old_id
    assert store.get(old_id) is None  # a fixated id is worthless after sign-in
    assert (await browser.get("/read")).text == "ada"


async def test_session_clear_forgets_it_and_expires_the_cookie(
    browser: httpx.AsyncClient, store: MemorySessionStore
) -> None:
    await browser.get("/set")
    session_id = browser.cookies[COOKIE]

    response = await browser.get("/clear")

    assert response.headers["set-cookie"].startswith(f"{COOKIE}=; ")
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert store.get(session_id) is None


def test_session_store_forgets_idle_sessions_and_keys_by_digest() -> None:
    now = [1000.0]
    store = MemorySessionStore(ttl=60, clock=lambda: now[0])
    session = Session()
    session_id = store.add(session)

    assert store.get(session_id) is session
    now[0] += 59  # activity slides the idle timeout
    assert store.get(session_id) is session
    assert session_id not in store._sessions  # only the SHA-256 digest is kept
    now[0] += 60
    assert store.get(session_id) is None


# --- pages (app.py, routes.py) --------------------------------------------------------------------


@pytest.fixture
async def coolnotes(store: MemorySessionStore) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(_settings(public_url="http://coolnotes.test"), sessions=store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://coolnotes.test"
    ) as client:
        yield client


def _sign_in(client: httpx.AsyncClient, store: MemorySessionStore) -> None:
    """A signed-in session, as /auth/callback leaves it (the tokens are never used here)."""
    session = Session()
    session.update(token={"access_token": "a"}, user={"name": "Ada"}, csrf_token="right-token")
    client.cookies.set(COOKIE, store.add(session))


async def test_home_signed_out_offers_login_with_security_headers(
    coolnotes: httpx.AsyncClient,
) -> None:
    response = await coolnotes.get("/")

    assert response.status_code == 200
    assert 'href="/login">Login with MyAuthProvider</a>' in response.text
    assert response.headers["content-security-policy"] == (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
        f"form-action 'self' {ISSUER}; frame-ancestors 'none'"
    )
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "<script" not in response.text


async def test_home_shows_only_known_notices(coolnotes: httpx.AsyncClient) -> None:
    known = await coolnotes.get("/", params={"notice": "access-denied"})
    unknown = await coolnotes.get("/", params={"notice": "<b>Your account is locked</b>"})

    assert "Access was refused" in known.text
    assert "locked" not in unknown.text and 'role="status"' not in unknown.text


@pytest.mark.parametrize(
    ("signed_in", "csrf_token"),
    [(True, "guess"), (True, ""), (True, "é"), (False, "guess"), (False, "right-token")],
    ids=["wrong", "empty", "non-ascii", "anonymous", "anonymous-with-a-token"],
)
@pytest.mark.parametrize("path", ["/notes", "/notes/1/delete", "/logout"])
async def test_forms_without_the_sessions_csrf_token_are_refused(
    coolnotes: httpx.AsyncClient,
    store: MemorySessionStore,
    path: str,
    signed_in: bool,
    csrf_token: str,
) -> None:
    if signed_in:
        _sign_in(coolnotes, store)

    response = await coolnotes.post(path, data={"title": "x", "csrf_token": csrf_token})

    assert response.status_code == 403
    assert "That form has expired." in response.text


async def test_callback_without_a_started_login_says_login_failed(
    coolnotes: httpx.AsyncClient,
) -> None:
    response = await coolnotes.get("/auth/callback", params={"code": "c", "state": "forged"})

    assert (response.status_code, response.headers["location"]) == (303, "/?notice=login-failed")


async def test_callback_with_access_denied_says_access_was_refused(
    coolnotes: httpx.AsyncClient,
) -> None:
    response = await coolnotes.get(
        "/auth/callback", params={"error": "access_denied", "state": "s", "iss": ISSUER}
    )

    assert (response.status_code, response.headers["location"]) == (303, "/?notice=access-denied")


def test_settings_read_client_credentials_from_the_demo_seed_file(tmp_path: Any) -> None:
    path = tmp_path / "demo-credentials.json"
    path.write_text('{"client_id": "coolnotes", "client_secret": "from-the-file"}')

    settings = CoolNotesSettings(_env_file=None, credentials_file=path)  # type: ignore[call-arg]

    assert settings.client_secret is not None
    assert (settings.client_id, settings.client_secret.get_secret_value()) == (
        "coolnotes",
        "from-the-file",
    )


def test_settings_without_a_client_secret_refuse_to_start() -> None:
    with pytest.raises(ValueError, match="COOLNOTES_CLIENT_SECRET"):
        CoolNotesSettings(_env_file=None)  # type: ignore[call-arg]
