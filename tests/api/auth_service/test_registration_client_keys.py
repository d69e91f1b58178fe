"""Dynamic registration (RFC 7591 §2, RFC 7592) of JWT-authenticated clients: `jwks`,
`jwks_uri`, and `token_endpoint_auth_method` private_key_jwt / client_secret_jwt."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from auth_service.config import AuthSettings
from shared.models import AuditEvent, Client
from tests.support.assertions import assert_oauth_error
from tests.support.assertions_jwt import (
    ClientKey,
    assertion_claims,
    assertion_form,
    jwks_of,
    new_client_key,
    sign_assertion,
)
from tests.support.db import Database
from tests.support.lifecycle import bearer

INITIAL_TOKEN = "initial-access-token-for-tests-0123456789"  # noqa: S105 - test credential
METADATA: dict[str, Any] = {
    "client_name": "Keyed App",
    "grant_types": ["client_credentials"],
    "response_types": [],
    "scope": "read:notes",
    "token_endpoint_auth_method": "private_key_jwt",
}


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    return settings.model_copy(update={"registration_initial_access_token": INITIAL_TOKEN})


@pytest.fixture(scope="module")
def key() -> ClientKey:
    return new_client_key("ES256")


async def register(auth: httpx.AsyncClient, **changes: Any) -> httpx.Response:
    body = {k: v for k, v in {**METADATA, **changes}.items() if v is not None}
    return await auth.post("/oauth/register", json=body, headers=bearer(INITIAL_TOKEN))


async def client_credentials(
    auth: httpx.AsyncClient, client_id: str, key: ClientKey | None, secret: str | None = None
) -> httpx.Response:
    assertion = sign_assertion(key, assertion_claims(client_id), secret=secret)
    data = {"grant_type": "client_credentials", **assertion_form(assertion)}
    return await auth.post("/oauth/token", data=data)


async def test_register_private_key_jwt_with_jwks_echoes_keys_and_authenticates(
    db: Database, auth_client: httpx.AsyncClient, key: ClientKey
) -> None:
    response = await register(auth_client, jwks=jwks_of(key))

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["jwks"] == jwks_of(key)  # RFC 7591 §3.2.1: as registered
    assert "client_secret" not in body  # it proves itself with its keys
    row = await db.get(Client, body["client_id"])
    assert row is not None and row.jwks == jwks_of(key) and row.client_secret_hash is None
    token = await client_credentials(auth_client, body["client_id"], key)
    assert token.status_code == 200, token.text


async def test_register_private_key_jwt_with_jwks_uri_is_echoed(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await register(auth_client, jwks_uri="https://keyed.example/jwks.json")

    assert response.status_code == 201, response.text
    assert response.json()["jwks_uri"] == "https://keyed.example/jwks.json"
    assert "jwks" not in response.json()


def _private(key: ClientKey) -> dict[str, Any]:
    return {**key.key.as_dict(private=True), "kid": key.kid, "alg": key.alg}


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        ({}, "private_key_jwt needs jwks or jwks_uri"),
        (
            {"jwks": "keys", "jwks_uri": None},
            "jwks must be a JWK Set object",
        ),
        ({"jwks": {"keys": []}}, "jwks must hold 1-10 keys"),
        ({"jwks": {"key": []}}, "jwks must be a JWK Set: an object with a keys array"),
        ({"jwks": "private"}, "keys must be public: no private or symmetric key members"),
        (
            {"jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}},
            "keys must be public: no private or symmetric key members",
        ),
        (
            {"jwks": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "HS256"}]}},
            "a key is not an RSA, P-256 or Ed25519 public key for RS256, PS256, ES256 or EdDSA",
        ),
        ({"jwks": "both"}, "jwks and jwks_uri must not both be registered"),
        ({"jwks_uri": "http://keyed.example/jwks"}, "jwks_uri must use https"),
        (
            {"jwks_uri": "https://user:pw@keyed.example/jwks"},
            "jwks_uri must be an absolute https URL",
        ),
        ({"jwks_uri": "file:///etc/passwd"}, "jwks_uri must be an absolute https URL"),
    ],
)
async def test_register_private_key_jwt_with_bad_keys_is_refused_and_stores_nothing(
    db: Database,
    auth_client: httpx.AsyncClient,
    key: ClientKey,
    changes: dict[str, Any],
    description: str,
) -> None:
    if changes.get("jwks") == "private":
        changes = {"jwks": {"keys": [_private(key)]}}
    elif changes.get("jwks") == "both":
        changes = {"jwks": jwks_of(key), "jwks_uri": "https://keyed.example/jwks"}

    response = await register(auth_client, **changes)

    assert_oauth_error(response, "invalid_client_metadata", description=description)
    assert await db.count(Client) == 0
    assert await db.count(AuditEvent, AuditEvent.event == "client_registered") == 0


async def test_register_client_secret_jwt_gets_a_secret_that_keys_its_assertions(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await register(auth_client, token_endpoint_auth_method="client_secret_jwt")

    assert response.status_code == 201, response.text
    body = response.json()
    row = await db.get(Client, body["client_id"])
    assert row is not None and row.client_secret_encrypted
    assert body["client_secret"] not in row.client_secret_encrypted
    token = await client_credentials(auth_client, body["client_id"], None, body["client_secret"])
    assert token.status_code == 200, token.text


async def test_registration_update_replaces_keys_and_the_old_key_stops_working(
    db: Database, auth_client: httpx.AsyncClient, key: ClientKey
) -> None:
    body = (await register(auth_client, jwks=jwks_of(key))).json()
    rotated = new_client_key("EdDSA")
    path = body["registration_client_uri"].split("auth.test")[1]
    replacement = {**METADATA, "client_id": body["client_id"], "jwks": jwks_of(rotated)}

    response = await auth_client.put(
        path, json=replacement, headers=bearer(body["registration_access_token"])
    )

    assert response.status_code == 200, response.text
    assert response.json()["jwks"] == jwks_of(rotated)
    old = await client_credentials(auth_client, body["client_id"], key)
    assert_oauth_error(old, "invalid_client", status=401)
    new = await client_credentials(auth_client, body["client_id"], rotated)
    assert new.status_code == 200, new.text

    # RFC 7592 §2.2: the whole metadata; leaving the keys out of a private_key_jwt one is refused.
    without = {**METADATA, "client_id": body["client_id"]}
    response = await auth_client.put(
        path, json=without, headers=bearer(body["registration_access_token"])
    )
    assert_oauth_error(
        response, "invalid_client_metadata", description="private_key_jwt needs jwks or jwks_uri"
    )
    row = await db.get(Client, body["client_id"])
    assert row is not None and row.jwks == jwks_of(rotated)


async def test_token_endpoint_auth_signing_alg_pins_the_assertion_algorithm(
    db: Database, auth_client: httpx.AsyncClient, key: ClientKey
) -> None:
    """RFC 7591 §2: the one algorithm the client signs its assertions with; another registered
    key of another algorithm no longer authenticates it."""
    ed = new_client_key("EdDSA")
    response = await register(
        auth_client, jwks=jwks_of(key, ed), token_endpoint_auth_signing_alg="ES256"
    )

    assert response.status_code == 201, response.text
    client_id = response.json()["client_id"]
    assert response.json()["token_endpoint_auth_signing_alg"] == "ES256"
    row = await db.get(Client, client_id)
    assert row is not None and row.token_endpoint_auth_signing_alg == "ES256"
    assert (await client_credentials(auth_client, client_id, key)).status_code == 200
    refused = await client_credentials(auth_client, client_id, ed)
    assert_oauth_error(refused, "invalid_client", status=401)


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({"token_endpoint_auth_signing_alg": "HS256"}, "must be one of"),
        (
            {"token_endpoint_auth_method": "client_secret_basic", "jwks": None,
             "token_endpoint_auth_signing_alg": "ES256"},
            "only for private_key_jwt and client_secret_jwt",
        ),
    ],
)  # fmt: skip
async def test_token_endpoint_auth_signing_alg_that_cannot_apply_is_invalid_client_metadata(
    db: Database, auth_client: httpx.AsyncClient, key: ClientKey, changes: dict[str, Any], text: str
) -> None:
    response = await register(auth_client, **{"jwks": jwks_of(key), **changes})

    assert_oauth_error(response, "invalid_client_metadata")
    assert text in response.json()["error_description"]
    assert await db.all(Client) == []


@pytest.mark.parametrize("typ", ["oauth-authz-req+jwt", "application/dpop+jwt", "at+jwt"])
async def test_a_jwt_of_another_kind_is_not_a_client_assertion(
    auth_client: httpx.AsyncClient, key: ClientKey, typ: object
) -> None:
    """RFC 8725 §3.11: a request object seen in the browser, a DPoP proof or an access token
    signed by the client's key does not authenticate it."""
    client_id = (await register(auth_client, jwks=jwks_of(key))).json()["client_id"]
    assertion = sign_assertion(key, assertion_claims(client_id), typ=typ)
    data = {"grant_type": "client_credentials", **assertion_form(assertion)}

    response = await auth_client.post("/oauth/token", data=data)

    assert_oauth_error(response, "invalid_client", status=401)
    plain = sign_assertion(key, assertion_claims(client_id), typ="JWT")
    ok = await auth_client.post(
        "/oauth/token", data={"grant_type": "client_credentials", **assertion_form(plain)}
    )
    assert ok.status_code == 200, ok.text
