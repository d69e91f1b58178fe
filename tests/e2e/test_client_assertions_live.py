"""private_key_jwt end to end: clients registered with the real admin CLI, Authlib as the
client against a live uvicorn auth service, keys inline or from a real jwks_uri server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign

from tests.support.admin_cli import run_cli
from tests.support.assertions_jwt import ClientKey, jwks_of, new_client_key
from tests.support.databases import fresh_database
from tests.support.jwks_server import jwks_server
from tests.support.live import LiveStack, live_stack

pytestmark = pytest.mark.e2e
SCOPE = "read:notes"


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib signs assertions valid for an hour by default; we accept at most five minutes
    (RFC 7523 section 3 leaves the bound to the server), so the client asks for one minute."""

    def sign(self, auth: Any, token_endpoint: str) -> Any:
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            header=self.headers,
            expires_in=60,
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    tmp_path = tmp_path_factory.mktemp("cjwt-live")
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as live:
        live.start_auth()
        yield live


def create_key_client(stack: LiveStack, key: ClientKey, *options: str) -> str:
    created = run_cli(
        stack, "clients", "create", "--name", "Keyed Service", "--scope", SCOPE,
        "--grant-type", "client_credentials", "--can-introspect",
        "--auth-method", "private_key_jwt", *options,
    ).json()  # fmt: skip
    assert set(created) == {"client_id"}  # RFC 7591 section 3.2.1: no secret to show
    client_id: str = created["client_id"]
    return client_id


def authlib_client(stack: LiveStack, client_id: str, key: ClientKey) -> AsyncOAuth2Client:
    token_endpoint = f"{stack.issuer}/oauth/token"
    client = AsyncOAuth2Client(
        client_id, client_secret=key.key, token_endpoint_auth_method="private_key_jwt"
    )
    method = ShortLivedPrivateKeyJWT(token_endpoint, headers={"kid": key.kid}, alg=key.alg)
    client.register_client_auth_method(method)
    return client


async def test_authlib_private_key_jwt_with_keys_from_a_file_gets_tokens_and_introspects(
    stack: LiveStack, tmp_path: Path
) -> None:
    key = new_client_key("RS256")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(jwks_of(key)))
    client_id = create_key_client(stack, key, "--jwks", str(jwks_file))

    async with authlib_client(stack, client_id, key) as client:
        first = await client.fetch_token(
            f"{stack.issuer}/oauth/token", grant_type="client_credentials", scope=SCOPE
        )
        # A second request is a new assertion with a new jti: accepted too.
        second = await client.fetch_token(
            f"{stack.issuer}/oauth/token", grant_type="client_credentials", scope=SCOPE
        )
        introspected = await client.introspect_token(
            f"{stack.issuer}/oauth/introspect", token=first["access_token"]
        )

    assert first["token_type"] == second["token_type"] == "Bearer"
    assert first["access_token"] != second["access_token"]
    assert introspected.status_code == 200, introspected.text
    assert (introspected.json()["active"], introspected.json()["client_id"]) == (True, client_id)
    listed = [c for c in run_cli(stack, "clients", "list").json() if c["client_id"] == client_id]
    assert listed[0]["token_endpoint_auth_method"] == "private_key_jwt"
    assert listed[0]["jwks"] == jwks_of(key)


async def test_authlib_private_key_jwt_with_jwks_uri_and_a_key_the_server_does_not_know(
    stack: LiveStack,
) -> None:
    key, stranger = new_client_key("ES256"), new_client_key("ES256")
    with jwks_server() as server:
        server.jwks = jwks_of(key)
        client_id = create_key_client(stack, key, "--jwks-uri", server.url)

        async with authlib_client(stack, client_id, key) as client:
            token = await client.fetch_token(
                f"{stack.issuer}/oauth/token", grant_type="client_credentials", scope=SCOPE
            )
        async with authlib_client(stack, client_id, stranger) as client:
            with pytest.raises(OAuthError) as refused:
                await client.fetch_token(
                    f"{stack.issuer}/oauth/token", grant_type="client_credentials", scope=SCOPE
                )

    assert token["scope"] == SCOPE
    assert refused.value.error == "invalid_client"
    assert server.hits == 2  # the first fetch, then one refetch for the unknown kid


def test_cli_private_key_jwt_without_keys_or_with_a_bad_file_exits_1(
    stack: LiveStack, tmp_path: Path
) -> None:
    missing = run_cli(
        stack, "clients", "create", "--name", "No Keys", "--grant-type", "client_credentials",
        "--auth-method", "private_key_jwt",
    )  # fmt: skip
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    unreadable = run_cli(
        stack, "clients", "create", "--name", "Bad Keys", "--grant-type", "client_credentials",
        "--auth-method", "private_key_jwt", "--jwks", str(bad),
    )  # fmt: skip

    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "error: jwks: private_key_jwt needs jwks or jwks_uri\n"
    assert (unreadable.returncode, unreadable.stdout) == (1, "")
    assert unreadable.stderr.startswith("error: jwks: cannot read a JSON JWK Set")


def test_cli_update_switches_a_client_to_jwks_uri_and_back_to_secrets(stack: LiveStack) -> None:
    key = new_client_key("EdDSA")
    client_id = create_key_client(stack, key, "--jwks-uri", "https://keys.example/jwks.json")

    back = run_cli(stack, "clients", "update", client_id, "--auth-method", "client_secret_basic")
    secret = run_cli(stack, "clients", "rotate-secret", client_id)

    assert back.returncode == 0, back.stderr
    assert "jwks_uri" not in back.json() and "token_endpoint_auth_method" not in back.json()
    response = httpx.post(
        f"{stack.issuer}/oauth/token",
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=(client_id, secret.json()["client_secret"]),
    )
    assert response.status_code == 200, response.text
