"""Token lifecycle calls as a client sends them (revoke, introspect, non-code grants) and DB snapshots."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select
from sqlmodel import SQLModel

from shared.models import Grant
from shared.tokens import load_public_jwk, verify_signature
from tests.factories import TestClient
from tests.support.db import Database
from tests.support.forge import unverified_header
from tests.support.token_endpoint import ClientAuth, default_auth, post_token

_CHALLENGE_PARAM = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


async def post_as_client(
    auth: httpx.AsyncClient,
    path: str,
    client: TestClient,
    data: dict[str, str],
    *,
    method: ClientAuth | None = None,
) -> httpx.Response:
    """POST `data` to `path`, authenticating `client` as at the token endpoint (RFC 6749 §2.3)."""
    method = method or default_auth(client)
    body = dict(data)
    if method == "client_secret_basic":
        return await auth.post(path, data=body, auth=client.basic_auth())
    body["client_id"] = client.client_id
    if method == "client_secret_post":
        assert client.secret is not None
        body["client_secret"] = client.secret
    return await auth.post(path, data=body)


async def revoke(
    auth: httpx.AsyncClient, client: TestClient, token: str, *, hint: str | None = None
) -> httpx.Response:
    data = {"token": token} if hint is None else {"token": token, "token_type_hint": hint}
    return await post_as_client(auth, "/oauth/revoke", client, data)


async def introspect(
    auth: httpx.AsyncClient, client: TestClient, token: str, *, hint: str | None = None
) -> httpx.Response:
    data = {"token": token} if hint is None else {"token": token, "token_type_hint": hint}
    return await post_as_client(auth, "/oauth/introspect", client, data)


async def client_credentials(
    auth: httpx.AsyncClient,
    client: TestClient,
    *,
    scope: str | None = None,
    method: ClientAuth | None = None,
) -> httpx.Response:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    return await post_token(auth, client, data, method=method)


async def password_grant(
    auth: httpx.AsyncClient,
    client: TestClient,
    *,
    username: str | None,
    password: str | None,
    scope: str | None = None,
) -> httpx.Response:
    data = {"grant_type": "password"}
    for name, value in (("username", username), ("password", password), ("scope", scope)):
        if value is not None:
            data[name] = value
    return await post_token(auth, client, data)


async def verified_claims(auth: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """The payload of a JWT the auth app signed, checked against its published JWKS."""
    keys = (await auth.get("/.well-known/jwks.json")).json()["keys"]
    kid = token_header(token)["kid"]
    (jwk,) = [k for k in keys if k["kid"] == kid]
    return verify_signature(token, load_public_jwk(jwk, jwk["alg"]), jwk["alg"])


def token_header(token: str) -> dict[str, Any]:
    return unverified_header(token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def challenge_params(challenge: str) -> dict[str, str]:
    """The auth-params of a single `Bearer` challenge (RFC 7235 §2.1, RFC 6750 §3)."""
    scheme, _, rest = challenge.partition(" ")
    assert scheme == "Bearer", challenge
    return dict(_CHALLENGE_PARAM.findall(rest))


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order: equal snapshots mean nothing changed."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with db.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            result = await connection.execute(select(table).order_by(*table.primary_key.columns))
            rows[table.name] = [tuple(row) for row in result.all()]
    return rows


async def only_grant(db: Database, client: TestClient) -> Grant:
    """The one grant `client` holds, asserting there is exactly one."""
    (grant,) = await db.all(Grant, Grant.client_id == client.client_id)
    return grant
