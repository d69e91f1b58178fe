"""Consents of one user for one client that finish together (two tabs, a double click) all
succeed and leave one row holding every scope allowed (issue 13, part 5).

Runs on SQLite by default and on PostgreSQL with TEST_DATABASE_URL, where the requests really
overlap in the database: a read-then-insert failed there on the primary key with a 500.
"""

from __future__ import annotations

import asyncio

import httpx

from shared.models import AuthorizationCode, Consent
from shared.scopes import parse_scope
from tests.factories import TestClient, TestUser
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest
from tests.support.pages import answer_consent, assert_client_code, assert_step_redirect, sign_in

TABS = 20


async def open_tab(auth: httpx.AsyncClient, request: AuthorizationRequest) -> tuple[str, str]:
    """One signed-in tab on the consent page; returns (request_id, page html)."""
    request_id = assert_step_redirect(await auth.get(request.url()), "/consent")
    page = await auth.get("/consent", params={"request_id": request_id})
    assert page.status_code == 200, page.text
    return request_id, page.text


async def test_consent_allowed_in_many_tabs_at_once_all_succeed_and_keep_one_row(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    # Half the tabs ask for email, half for profile: the one row must hold the union.
    requests = [
        AuthorizationRequest(
            confidential_client, scope="openid profile" if i % 2 else "openid email"
        )
        for i in range(TABS)
    ]
    tabs = [await open_tab(auth_client, request) for request in requests]

    responses = await asyncio.gather(
        *(
            answer_consent(auth_client, request_id, httpx.Response(200, text=html), "allow")
            for request_id, html in tabs
        )
    )

    for request, response in zip(requests, responses, strict=True):
        assert_client_code(response, request.redirect_uri, state=request.state)
    (consent,) = await db.all(Consent)
    assert (consent.user_id, consent.client_id) == (user.id, confidential_client.client_id)
    assert consent.scopes == parse_scope("openid profile email")
    assert await db.count(AuthorizationCode) == TABS
