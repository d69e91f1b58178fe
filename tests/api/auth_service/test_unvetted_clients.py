"""Self-registered clients (portal, dynamic registration) cannot make us redirect on our own:
errors and bare logout requests show our page with a link instead (RFC 9700 §4.11.2)."""

from __future__ import annotations

import html

import httpx

from tests.factories import TestUser, make_client
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest
from tests.support.pages import sign_in

EVIL = "https://evil.example/phish"


async def test_unvetted_client_error_is_shown_with_a_link_not_redirected(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    client = await make_client(db, redirect_uris=[EVIL])
    await db.run(
        lambda repos: repos.clients.set_registration_token_hash(client.client_id, "x" * 64)
    )
    request = AuthorizationRequest(client, extra={"response_type": "token"})

    response = await auth_client.get(request.url())

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "evil.example" in response.text
    assert html.escape(f"{EVIL}?error=unsupported_response_type", quote=True) in response.text


async def test_vetted_client_error_is_redirected_as_usual(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    client = await make_client(db)
    response = await auth_client.get(
        AuthorizationRequest(client, extra={"response_type": "token"}).url()
    )

    assert response.status_code == 302
    assert response.headers["location"].startswith(
        client.redirect_uri + "?error=unsupported_response_type"
    )


async def test_unvetted_client_logout_with_bare_client_id_shows_a_link_not_a_redirect(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    owner = await make_client(db)  # any row works as owner id below via a user
    del owner
    client = await make_client(db, post_logout_redirect_uris=["https://evil.example/after"])
    await db.run(
        lambda repos: repos.clients.set_registration_token_hash(client.client_id, "y" * 64)
    )

    response = await auth_client.get(
        "/oauth/logout",
        params={
            "client_id": client.client_id,
            "post_logout_redirect_uri": "https://evil.example/after",
        },
    )

    assert response.status_code == 200
    assert "location" not in response.headers
    assert 'href="https://evil.example/after"' in response.text
    await sign_in(auth_client, user)
