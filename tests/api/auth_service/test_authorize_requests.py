"""Accepted /oauth/authorize requests: what is stored, where the code goes, GET and POST alike
(RFC 6749 §4.1.1-4.1.2, §3.1.2.3; OIDC Core §3.1.2.1)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
from fastapi import FastAPI

from auth_service.config import AuthSettings
from shared.models import AuthorizationCode, PendingAuthorization
from tests.factories import REDIRECT_URI, TestClient, TestUser, make_client
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, exchange_code
from tests.support.pages import (
    assert_client_code,
    assert_step_redirect,
    probing_client,
    remember_consent,
    sha256_hex,
    sign_in,
    start_authorization,
)


async def test_authorize_without_session_redirects_to_login_and_stores_request(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    settings: AuthSettings,
) -> None:
    request = AuthorizationRequest(
        confidential_client, scope="openid profile email", extra={"login_hint": "ada"}
    )

    response = await auth_client.get(request.url())

    request_id = assert_step_redirect(response, "/login")
    assert response.headers["location"] == f"/login?request_id={request_id}"
    assert len(request_id) >= 43  # 256 bits, unguessable
    pending = await db.get(PendingAuthorization, request_id)
    assert pending is not None
    assert pending.client_id == confidential_client.client_id
    assert pending.params == {
        "redirect_uri": REDIRECT_URI,
        "redirect_uri_given": True,
        "scope": "openid profile email",
        "state": request.state,
        "nonce": request.nonce,
        "code_challenge": request.challenge,
        "code_challenge_method": "S256",
        "prompt": [],
        "max_age": None,
        "login_hint": "ada",
        "client_vetted": True,
    }
    assert pending.min_auth_time is None
    assert pending.expires_at - pending.created_at == timedelta(
        seconds=settings.pending_request_ttl
    )
    assert await db.count(PendingAuthorization) == 1


async def test_authorize_post_form_without_session_redirects_to_login_and_stores_request(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # OIDC Core §3.1.2.1: POST with a form body works like GET.
    request = AuthorizationRequest(confidential_client)

    response = await auth_client.post("/oauth/authorize", data=request.params())

    request_id = assert_step_redirect(response, "/login")
    pending = await db.get(PendingAuthorization, request_id)
    assert pending is not None
    assert pending.params["state"] == request.state
    assert pending.params["code_challenge"] == request.challenge


async def test_authorize_omitted_redirect_uri_with_one_registered_uses_it(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # RFC 6749 §3.1.2.3: with a single registered URI the parameter may be omitted (not OIDC).
    request = AuthorizationRequest(
        confidential_client, scope="profile", extra={"redirect_uri": None}
    )

    response = await auth_client.get(request.url())

    request_id = assert_step_redirect(response, "/login")
    pending = await db.get(PendingAuthorization, request_id)
    assert pending is not None
    assert pending.params["redirect_uri"] == REDIRECT_URI
    assert pending.params["redirect_uri_given"] is False
    assert await db.count(PendingAuthorization) == 1


async def test_authorize_omitted_redirect_uri_with_one_registered_issues_code_there(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "profile")
    request = AuthorizationRequest(
        confidential_client, scope="profile", extra={"redirect_uri": None}
    )

    response = await auth_client.get(request.url())

    code = assert_client_code(response, REDIRECT_URI, state=request.state)
    rows = await db.all(AuthorizationCode)
    assert [row.code_hash for row in rows] == [sha256_hex(code)]
    # RFC 6749 §4.1.3: redirect_uri was not in the request, so none is required at the token.
    assert rows[0].redirect_uri is None


async def test_authorize_redirect_uri_with_query_is_kept_on_success(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    redirect_uri = "https://client.example/cb?tenant=acme"
    client = await make_client(db, redirect_uris=[redirect_uri])
    await sign_in(auth_client, user)
    await remember_consent(db, user, client, "openid profile")
    request = AuthorizationRequest(client)

    response = await auth_client.get(request.url())

    assert_client_code(response, redirect_uri, state=request.state)


async def test_authorize_pending_request_ids_are_distinct(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    first = await start_authorization(auth_client, AuthorizationRequest(confidential_client))
    second = await start_authorization(auth_client, AuthorizationRequest(confidential_client))

    assert first != second
    assert await db.count(PendingAuthorization) == 2


async def test_authorize_code_is_committed_before_the_redirect_is_sent(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
) -> None:
    # Style §6: the session dependency commits before the response, so the client can redeem
    # the code the instant the redirect arrives.
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    request = AuthorizationRequest(confidential_client)
    rows_at_response_start: list[int] = []

    async def probe(status: int, headers: dict[str, str]) -> None:
        if status == 302:
            code = dict(parse_qsl(urlsplit(headers["location"]).query))["code"]
            where = AuthorizationCode.code_hash == sha256_hex(code)
            rows_at_response_start.append(await db.count(AuthorizationCode, where))

    async with probing_client(auth_app, probe, cookies=auth_client.cookies) as browser:
        response = await browser.get(request.url())

    code = assert_client_code(response, REDIRECT_URI, state=request.state)
    assert rows_at_response_start == [1]
    token = await exchange_code(auth_client, request, code)
    assert token.status_code == 200, token.text
