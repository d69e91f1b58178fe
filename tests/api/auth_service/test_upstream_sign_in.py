"""The upstream sign-in pages' refusals and their care for the database (issue 16), in process.
The whole round trip through a real second instance is in tests/e2e/test_upstream_sign_in_live.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from shared.models import UpstreamLink, UpstreamProvider, User
from tests.support.db import Database
from tests.support.flows import csrf_from
from tests.support.live import free_port


async def press(client: httpx.AsyncClient, provider_id: str = "idp") -> httpx.Response:
    """The login page's "Sign in with ..." button: a form with the page's CSRF token."""
    page = await client.get("/login")
    data = {"csrf_token": csrf_from(page.text), "request_id": "", "next": ""}
    return await client.post(f"/login/upstream/{provider_id}", data=data)


def provider_row(app: FastAPI, issuer: str, **overrides: object) -> UpstreamProvider:
    values: dict[str, object] = {
        "id": "idp", "name": "Upstream ID", "kind": "oidc", "issuer": issuer,
        "client_id": "ours",
        "client_secret_encrypted": app.state.secret_box.encrypt("our-secret-there"),
        "scope": "openid email", "created_at": datetime.now(UTC), **overrides,
    }  # fmt: skip
    return UpstreamProvider(**values)


@pytest.fixture
async def silent_upstream() -> AsyncIterator[str]:
    """An upstream that takes the connection and never answers (it times out after 5 s)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    port = free_port()
    server = await asyncio.start_server(accept, "127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_slow_upstream_holds_no_database_connection_and_ends_in_a_502(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, silent_upstream: str
) -> None:
    await db.add(provider_row(auth_app, silent_upstream))

    start = asyncio.create_task(press(auth_client))
    await asyncio.sleep(0.3)  # the start is waiting for the upstream's discovery document
    login = await auth_client.get("/login")  # SQLite's one pooled connection must be free

    assert login.status_code == 200 and "Sign in with Upstream ID" in login.text
    assert not start.done()
    failed = await start
    assert failed.status_code == 502
    assert "We could not sign you in with Upstream ID" in failed.text
    assert "myauth_upstream=" not in failed.headers.get("set-cookie", "")


async def test_an_unknown_provider_is_a_404_page(auth_client: httpx.AsyncClient) -> None:
    response = await press(auth_client, "nobody")

    assert response.status_code == 404 and "There is no such provider." in response.text


async def test_a_start_without_the_login_forms_csrf_token_is_refused(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database
) -> None:
    await db.add(provider_row(auth_app, "http://127.0.0.1:9"))

    forged = await auth_client.post("/login/upstream/idp", data={"request_id": "", "next": ""})
    by_get = await auth_client.get("/login/upstream/idp")

    assert forged.status_code == 400 and "This form has expired" in forged.text
    assert "myauth_upstream=" not in forged.headers.get("set-cookie", "")
    assert by_get.status_code == 405


@pytest.mark.parametrize(
    "query",
    ["", "?state=x&code=y", "?error=access_denied", f"?state={'s' * 5000}&code={'c' * 5000}"],
)
async def test_a_callback_without_the_flow_cookie_is_refused_and_makes_nothing(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database, query: str
) -> None:
    await db.add(provider_row(auth_app, "http://127.0.0.1:9"))

    response = await auth_client.get(f"/login/upstream/idp/callback{query}")

    assert response.status_code == 400
    assert "has expired or was started in another browser" in response.text
    assert await db.count(User) == 0 and await db.count(UpstreamLink) == 0


async def test_a_forged_flow_cookie_is_refused(
    auth_app: FastAPI, auth_client: httpx.AsyncClient, db: Database
) -> None:
    await db.add(provider_row(auth_app, "http://127.0.0.1:9"))
    auth_client.cookies.set("myauth_upstream", "gAAAAA-not-sealed-by-us")

    response = await auth_client.get("/login/upstream/idp/callback?state=x&code=y")

    assert response.status_code == 400 and await db.count(User) == 0


async def test_the_link_question_needs_its_cookie(auth_client: httpx.AsyncClient) -> None:
    shown = await auth_client.get("/login/upstream/link")
    answered = await auth_client.post("/login/upstream/link", data={"answer": "link"})

    assert (shown.status_code, answered.status_code) == (400, 400)
    assert "has expired or was started in another browser" in shown.text


async def test_the_providers_page_needs_a_signed_in_person(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.get("/account/providers")

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account/providers"
