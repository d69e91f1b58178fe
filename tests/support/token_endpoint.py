"""Token endpoint requests as a client sends them: each client authentication method, and refresh."""

from __future__ import annotations

from typing import Literal

import httpx

from tests.factories import TestClient

ClientAuth = Literal["client_secret_basic", "client_secret_post", "none"]


def default_auth(client: TestClient) -> ClientAuth:
    return "none" if client.secret is None else "client_secret_basic"


async def post_token(
    auth: httpx.AsyncClient,
    client: TestClient,
    data: dict[str, str],
    *,
    method: ClientAuth | None = None,
) -> httpx.Response:
    """POST /oauth/token with `data`, authenticating `client` with `method` (RFC 6749 §2.3)."""
    method = method or default_auth(client)
    body = dict(data)
    if method == "client_secret_basic":
        return await auth.post("/oauth/token", data=body, auth=client.basic_auth())
    body["client_id"] = client.client_id
    if method == "client_secret_post":
        assert client.secret is not None
        body["client_secret"] = client.secret
    return await auth.post("/oauth/token", data=body)


async def refresh(
    auth: httpx.AsyncClient, client: TestClient, refresh_token: str, **extra: str
) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return await post_token(auth, client, data)
