"""Issue 5's browserless walk: a developer signs up and registers an app in the portal, another
person signs up and uses it through the whole authorization-code flow, then the developer rotates
the secret and deletes the app, and its tokens stop working."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shared.models import Client, User
from tests.factories import TestUser
from tests.support.assertions import assert_oauth_error
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, csrf_from, tokens_for
from tests.support.portal import as_test_client, browser, credentials_from, register_app, submit
from tests.support.token_endpoint import refresh


async def _sign_up(db: Database, auth: httpx.AsyncClient, username: str) -> TestUser:
    password = f"{username}-long-password"
    page = await auth.get("/signup")
    response = await auth.post("/signup", data={
        "username": username, "email": f"{username}@example.com", "password": password,
        "csrf_token": csrf_from(page.text),
    })  # fmt: skip
    assert response.status_code == 303 and response.headers["location"] == "/account", response.text
    (user,) = await db.all(User, User.username == username)
    return TestUser(user, password)


async def test_portal_sign_up_register_use_rotate_delete(
    db: Database, auth_app: FastAPI, resource_app: FastAPI, resource_client: httpx.AsyncClient
) -> None:
    async with browser(auth_app) as developer_browser, browser(auth_app) as person_browser:
        await _sign_up(db, developer_browser, "devon")
        created = await register_app(developer_browser, name="Recipe Box")
        client_id, secret = credentials_from(created)
        assert secret is not None
        app = await as_test_client(db, client_id, secret)

        person = await _sign_up(db, person_browser, "pat")
        request = AuthorizationRequest(app, scope="openid profile read:notes")
        tokens = await tokens_for(person_browser, request, person)
        me = await resource_client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert me.status_code == 200 and me.json()["username"] == "pat"

        rotated = await submit(
            developer_browser,
            f"/developers/apps/{client_id}",
            f"/developers/apps/{client_id}/rotate-secret",
            {},
        )
        _, new_secret = credentials_from(rotated)
        assert new_secret is not None and new_secret != secret
        old = await refresh(person_browser, app, tokens["refresh_token"])
        assert_oauth_error(old, "invalid_client", status=401)

        deleted = await submit(
            developer_browser,
            f"/developers/apps/{client_id}",
            f"/developers/apps/{client_id}/delete",
            {},
        )
        assert deleted.status_code == 303
        assert await db.get(Client, client_id) is None
        await resource_app.state.revocation_feed.poll()
        refused = await resource_client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert refused.status_code == 401
