"""Both apps in-process: the resource service verifies tokens with keys fetched from the auth app."""

from __future__ import annotations

import httpx

from tests.factories import make_client, make_user
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, tokens_for


async def test_code_flow_token_reads_me_and_email(
    db: Database, auth_client: httpx.AsyncClient, resource_client: httpx.AsyncClient
) -> None:
    user = await make_user(db, name="Ada Lovelace")
    client = await make_client(db)
    tokens = await tokens_for(
        auth_client, AuthorizationRequest(client, scope="openid profile email"), user
    )

    me = await resource_client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    email = await resource_client.get(
        "/api/v1/email", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )

    assert me.status_code == 200
    assert me.json() == {"id": user.id, "username": user.username, "name": "Ada Lovelace"}
    assert email.json() == {"email": user.user.email, "email_verified": False}
