"""The consent step of /oauth/authorize: GET /consent shows it, POST /consent decides (RFC 6749 §4.1.1-4.1.2)."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from shared.models import AuthorizationCode, Consent, PendingAuthorization
from shared.scopes import SCOPES
from tests.factories import (
    REDIRECT_URI,
    TestClient,
    TestUser,
    make_client,
    make_resource_server,
    make_user,
)
from tests.support.assertions import assert_error_page
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, csrf_from, exchange_code, login
from tests.support.pages import (
    AWKWARD_STATE,
    answer_consent,
    assert_client_code,
    assert_client_error,
    assert_page_security_headers,
    assert_step_redirect,
    open_consent,
    probing_client,
    remember_consent,
    sha256_hex,
    sign_in,
    start_authorization,
)
from tests.support.resources import ResourceRequest

FORM_EXPIRED = "This form has expired. Please try again."
GONE = (
    "This authorization request has expired or was already answered. "
    "Go back to the app and try again."
)


@pytest.fixture
async def confidential_client(db: Database) -> TestClient:
    return await make_client(db, name="Notes App")


def consent_text(scope: str) -> str:
    """How the page must word a scope: the registry's description, sentence-cased, escaped."""
    description = SCOPES[scope].description
    return html.escape(description[:1].upper() + description[1:], quote=False)


async def pending_count(db: Database) -> int:
    return await db.count(PendingAuthorization)


# --- The page ---


async def test_consent_page_names_client_and_describes_each_requested_scope(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client, scope="openid profile email read:notes")

    _, page = await open_consent(auth_client, request, user)

    assert page.headers["content-type"].startswith("text/html")
    assert "<strong>Notes App</strong> wants to access your account" in page.text
    assert f"Signed in as <strong>{user.username}</strong>" in page.text
    for scope in ("openid", "profile", "email", "read:notes"):
        assert consent_text(scope) in page.text, scope
    # Nothing that was not asked for.
    for scope in ("write:notes", "offline_access"):
        assert consent_text(scope) not in page.text, scope


@pytest.mark.parametrize("scope", sorted(SCOPES))
async def test_consent_page_uses_registry_wording_for_scope(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, scope: str
) -> None:
    # The consent text must say exactly what the registry says (shared/scopes.py).
    client = await make_client(db)
    request = AuthorizationRequest(client, scope=scope)

    _, page = await open_consent(auth_client, request, user)

    assert f'<span class="scope-text">{consent_text(scope)}</span>' in page.text


async def test_consent_page_names_the_resource_servers_asked_for(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await make_resource_server(db, "https://photos.example", name="Photos <API>")
    await make_resource_server(db, "https://calendar.example", name="Calendar API")
    await make_resource_server(db, "https://unasked.example", name="Unasked API")
    request = ResourceRequest(
        confidential_client,
        scope="openid read:notes",
        resources=["https://photos.example", "https://calendar.example"],
    )

    _, page = await open_consent(auth_client, request, user)

    # RFC 8707 §2.1: the person sees where the tokens will be good, names escaped.
    listing = re.search(
        r'<ul class="resources" aria-labelledby="([^"]+)">(.*?)</ul>', page.text, re.S
    )
    assert listing is not None, page.text
    assert f'id="{listing.group(1)}"' in page.text
    items = re.findall(
        r'<span class="resource-name">(.*?)</span> <code>(.*?)</code>', listing.group(2)
    )
    assert items == [
        ("Photos &lt;API&gt;", "https://photos.example"),
        ("Calendar API", "https://calendar.example"),
    ]
    assert "Unasked API" not in page.text


async def test_consent_page_without_resources_lists_none(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    _, page = await open_consent(auth_client, AuthorizationRequest(confidential_client), user)

    assert 'class="resources"' not in page.text


async def test_consent_page_has_allow_and_deny_buttons_in_a_post_form(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request_id, page = await open_consent(
        auth_client, AuthorizationRequest(confidential_client), user
    )

    form = re.search(r'<form method="post" action="/consent"[^>]*>(.*?)</form>', page.text, re.S)
    assert form is not None, page.text
    assert re.search(r'<button[^>]*\bname="allow"', form.group(1))
    assert re.search(r'<button[^>]*\bname="deny"', form.group(1))
    assert f'name="request_id" value="{request_id}"' in form.group(1)
    assert re.fullmatch(r"[0-9a-f]{64}", csrf_from(form.group(1)))


async def test_consent_page_escapes_client_name(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    client = await make_client(db, name='Evil <img src=x onerror="alert(1)">')

    _, page = await open_consent(auth_client, AuthorizationRequest(client), user)

    assert "<img" not in page.text
    assert "Evil &lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page.text


async def test_consent_page_has_security_headers(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    _, page = await open_consent(auth_client, AuthorizationRequest(confidential_client), user)

    assert page.headers["cache-control"] == "no-store"
    assert_page_security_headers(page)


async def test_consent_page_without_session_redirects_to_login(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request_id = await start_authorization(auth_client, AuthorizationRequest(confidential_client))

    response = await auth_client.get("/consent", params={"request_id": request_id})

    assert assert_step_redirect(response, "/login") == request_id
    assert await db.get(PendingAuthorization, request_id) is not None


@pytest.mark.parametrize("request_id", ["", "no-such-request"])
async def test_consent_page_with_unknown_request_shows_error_page(
    auth_client: httpx.AsyncClient, user: TestUser, request_id: str
) -> None:
    await sign_in(auth_client, user)

    response = await auth_client.get("/consent", params={"request_id": request_id})

    assert_error_page(response, GONE)


# --- CSRF (RFC 9700 §4.4; RFC 6749 §10.12) ---


@pytest.mark.parametrize("csrf_token", [None, "", "0" * 64, "forged"])
async def test_consent_missing_or_wrong_csrf_token_is_refused(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    csrf_token: str | None,
) -> None:
    request_id, _ = await open_consent(auth_client, AuthorizationRequest(confidential_client), user)
    data = {"allow": "allow", "request_id": request_id}
    if csrf_token is not None:
        data["csrf_token"] = csrf_token

    response = await auth_client.post("/consent", data=data)

    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert f'<p class="error" role="alert">{FORM_EXPIRED}</p>' in response.text
    assert await db.count(AuthorizationCode) == 0
    assert await db.count(Consent) == 0
    # The request was not used up: the real user can still answer it.
    assert await db.get(PendingAuthorization, request_id) is not None


async def test_consent_csrf_token_from_another_pending_request_is_refused(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    first_id, first_page = await open_consent(
        auth_client, AuthorizationRequest(confidential_client), user
    )
    second = AuthorizationRequest(confidential_client, scope="openid email")
    second_response = await auth_client.get(second.url())
    second_id = assert_step_redirect(second_response, "/consent")

    response = await auth_client.post(
        "/consent",
        data={"allow": "allow", "request_id": second_id, "csrf_token": csrf_from(first_page.text)},
    )

    assert response.status_code == 400, response.text
    assert await db.count(AuthorizationCode) == 0
    assert await db.count(Consent) == 0
    assert await db.get(PendingAuthorization, first_id) is not None
    assert await db.get(PendingAuthorization, second_id) is not None


async def test_consent_csrf_token_from_before_relogin_is_refused(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    # The token is bound to the session: a new login makes an old page's token useless.
    request_id, page = await open_consent(
        auth_client, AuthorizationRequest(confidential_client), user
    )
    relogin = await login(auth_client, user, request_id=request_id)
    assert assert_step_redirect(relogin, "/consent") == request_id

    response = await answer_consent(auth_client, request_id, page, "allow")

    assert response.status_code == 400, response.text
    assert await db.count(AuthorizationCode) == 0


async def test_consent_post_without_session_redirects_to_login(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request_id, page = await open_consent(
        auth_client, AuthorizationRequest(confidential_client), user
    )
    await db.run(lambda repos: repos.sessions.delete_all_for_user(user.id))

    response = await answer_consent(auth_client, request_id, page, "allow")

    assert assert_step_redirect(response, "/login") == request_id
    assert await db.count(AuthorizationCode) == 0
    assert await db.count(Consent) == 0


async def test_consent_post_with_both_allow_and_deny_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request_id, page = await open_consent(
        auth_client, AuthorizationRequest(confidential_client), user
    )

    response = await auth_client.post(
        "/consent",
        data={
            "allow": "allow",
            "deny": "deny",
            "request_id": request_id,
            "csrf_token": csrf_from(page.text),
        },
    )

    assert_error_page(response, "choose either Allow or Deny")
    assert await db.count(AuthorizationCode) == 0
    assert await db.count(Consent) == 0


async def test_consent_get_with_allow_parameter_does_not_decide(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    # RFC 9700 §4.4 / security.md: the decision is a POST; a link cannot grant access.
    request_id, page = await open_consent(
        auth_client, AuthorizationRequest(confidential_client), user
    )

    response = await auth_client.get(
        "/consent",
        params={"request_id": request_id, "allow": "allow", "csrf_token": csrf_from(page.text)},
    )

    assert response.status_code == 200, response.text
    assert 'name="allow"' in response.text
    assert await db.count(AuthorizationCode) == 0
    assert await db.count(Consent) == 0
    assert await db.get(PendingAuthorization, request_id) is not None


# --- The decision ---


async def test_consent_deny_redirects_with_access_denied(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client, state=AWKWARD_STATE)
    request_id, page = await open_consent(auth_client, request, user)

    response = await answer_consent(auth_client, request_id, page, "deny")

    # RFC 6749 §4.1.2.1 access_denied, with the state byte for byte and RFC 9207 iss.
    assert_client_error(
        response,
        REDIRECT_URI,
        "access_denied",
        "the user denied the request",
        state=AWKWARD_STATE,
    )
    assert await db.get(PendingAuthorization, request_id) is None
    assert await db.count(Consent) == 0
    assert await db.count(AuthorizationCode) == 0


async def test_consent_allow_redirects_with_code_and_records_consent(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(
        confidential_client, scope="openid profile email", state=AWKWARD_STATE
    )
    request_id, page = await open_consent(auth_client, request, user)

    response = await answer_consent(auth_client, request_id, page, "allow")

    code = assert_client_code(response, REDIRECT_URI, state=AWKWARD_STATE)
    assert await db.get(PendingAuthorization, request_id) is None
    consents = await db.all(Consent)
    assert len(consents) == 1
    assert (consents[0].user_id, consents[0].client_id) == (user.id, confidential_client.client_id)
    assert consents[0].scopes == {"openid", "profile", "email"}
    rows = await db.all(AuthorizationCode)
    assert len(rows) == 1
    # Stored only as a SHA-256 digest.
    assert all(row.code_hash != code for row in rows)
    assert rows[0].code_hash == sha256_hex(code)
    assert rows[0].client_id == confidential_client.client_id
    assert rows[0].user_id == user.id
    assert rows[0].redirect_uri == REDIRECT_URI
    assert rows[0].scope == "openid profile email"
    assert rows[0].code_challenge == request.challenge
    assert rows[0].nonce == request.nonce
    assert rows[0].used_at is None
    assert len(code) >= 43  # 256 bits


async def test_consent_allow_keeps_redirect_uri_query(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    redirect_uri = "https://client.example/cb?tenant=acme"
    client = await make_client(db, redirect_uris=[redirect_uri])
    request = AuthorizationRequest(client)
    request_id, page = await open_consent(auth_client, request, user)

    response = await answer_consent(auth_client, request_id, page, "allow")

    # RFC 6749 §3.1.2: the registered query component is retained.
    assert_client_code(response, redirect_uri, state=request.state)


@pytest.mark.parametrize(
    ("first", "second"), [("allow", "allow"), ("deny", "allow"), ("allow", "deny")]
)
async def test_consent_answering_twice_shows_error_page_and_no_second_code(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    first: str,
    second: str,
) -> None:
    request_id, page = await open_consent(
        auth_client, AuthorizationRequest(confidential_client), user
    )
    first_response = await answer_consent(auth_client, request_id, page, first)
    assert first_response.status_code == 302
    codes_after_first = await db.count(AuthorizationCode)

    response = await answer_consent(auth_client, request_id, page, second)

    assert_error_page(response, GONE)
    assert await db.count(AuthorizationCode) == codes_after_first


async def test_consent_page_after_answer_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request_id, page = await open_consent(
        auth_client, AuthorizationRequest(confidential_client), user
    )
    await answer_consent(auth_client, request_id, page, "allow")

    response = await auth_client.get("/consent", params={"request_id": request_id})

    assert_error_page(response, GONE)
    assert await db.count(AuthorizationCode) == 1


async def test_consent_answer_after_pending_request_expired_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    settings: AuthSettings,
    clock: TestClock,
) -> None:
    request_id, page = await open_consent(
        auth_client, AuthorizationRequest(confidential_client), user
    )
    clock.advance(settings.pending_request_ttl + 1)

    response = await answer_consent(auth_client, request_id, page, "allow")

    assert_error_page(response, GONE)
    assert await db.count(AuthorizationCode) == 0
    assert await db.count(Consent) == 0


# --- Remembered consent ---


@pytest.mark.parametrize("scope", ["openid profile email", "openid profile", "email"])
async def test_consent_second_authorization_for_same_or_narrower_scopes_skips_consent(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    scope: str,
) -> None:
    first = AuthorizationRequest(confidential_client, scope="openid profile email")
    request_id, page = await open_consent(auth_client, first, user)
    allowed = await answer_consent(auth_client, request_id, page, "allow")
    assert_client_code(allowed, REDIRECT_URI, state=first.state)
    again = AuthorizationRequest(confidential_client, scope=scope)

    response = await auth_client.get(again.url())

    assert_client_code(response, REDIRECT_URI, state=again.state)
    assert await pending_count(db) == 0
    assert await db.count(AuthorizationCode) == 2


async def test_consent_second_authorization_for_wider_scopes_asks_again(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    wider = AuthorizationRequest(confidential_client, scope="openid profile email")

    response = await auth_client.get(wider.url())

    request_id = assert_step_redirect(response, "/consent")
    page = await auth_client.get(response.headers["location"])
    assert page.status_code == 200
    assert consent_text("email") in page.text
    assert await db.count(AuthorizationCode) == 0
    allowed = await answer_consent(auth_client, request_id, page, "allow")
    assert_client_code(allowed, REDIRECT_URI, state=wider.state)
    consent = await db.get(Consent, (user.id, confidential_client.client_id))
    assert consent is not None
    assert consent.scopes == {"openid", "profile", "email"}


async def test_consent_of_another_user_does_not_skip_consent(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    other = await make_user(db)
    await remember_consent(db, other, confidential_client, "openid profile")
    await sign_in(auth_client, user)

    response = await auth_client.get(AuthorizationRequest(confidential_client).url())

    assert_step_redirect(response, "/consent")


async def test_consent_for_another_client_does_not_skip_consent(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    other = await make_client(db)
    await remember_consent(db, user, other, "openid profile")
    await sign_in(auth_client, user)

    response = await auth_client.get(AuthorizationRequest(confidential_client).url())

    assert_step_redirect(response, "/consent")


# --- The code works the instant the redirect arrives (style §6: commit before the response) ---


async def test_consent_allow_code_is_committed_before_the_redirect_is_sent(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
) -> None:
    request = AuthorizationRequest(confidential_client)
    request_id, page = await open_consent(auth_client, request, user)
    seen_at_response_start: list[int] = []

    async def probe(status: int, headers: dict[str, str]) -> None:
        # Runs while the app is still inside the request, before the browser sees anything.
        if status == 302:
            code = dict(parse_qsl(urlsplit(headers["location"]).query))["code"]
            where = AuthorizationCode.code_hash == sha256_hex(code)
            seen_at_response_start.append(await db.count(AuthorizationCode, where))

    async with probing_client(auth_app, probe, cookies=auth_client.cookies) as browser:
        response = await answer_consent(browser, request_id, page, "allow")

    code = assert_client_code(response, REDIRECT_URI, state=request.state)
    assert seen_at_response_start == [1]
    token = await exchange_code(auth_client, request, code)
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "Bearer"


async def test_consent_allow_code_is_redeemable_immediately(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client)
    request_id, page = await open_consent(auth_client, request, user)
    redirect = await answer_consent(auth_client, request_id, page, "allow")
    code = assert_client_code(redirect, REDIRECT_URI, state=request.state)

    response = await exchange_code(auth_client, request, code)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert set(response.json()) >= {"access_token", "token_type", "expires_in", "id_token"}
