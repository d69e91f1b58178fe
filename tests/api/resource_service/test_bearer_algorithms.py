"""The resource API verifies access tokens of every algorithm the issuer holds a key for, each with
the key's own `alg` from the JWKS: a header naming another algorithm is refused (RFC 8725 §3.1,
RFC 7517 §4.4), even when the signature would verify under the header's algorithm."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth_service.config import AuthSettings
from shared.models import SigningKey
from shared.tokens import SIGNATURE_ALGORITHMS
from tests.factories import TestUser, make_client
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.forge import Forger, access_claims, b64url
from tests.support.lifecycle import token_header
from tests.support.oidc import code_flow_tokens

MISMATCH = "token algorithm does not match its key"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response: httpx.Response, description: str) -> None:
    assert_oauth_error(response, "invalid_token", status=401, description=description)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge


@pytest.mark.parametrize("alg", SIGNATURE_ALGORITHMS)
async def test_me_access_token_of_each_algorithm_is_accepted(
    db: Database,
    auth_client: httpx.AsyncClient,
    resource_client: httpx.AsyncClient,
    user: TestUser,
    signing_keys: dict[str, SigningKey],
    alg: str,
) -> None:
    client = await make_client(db)

    async def choose(repos: Any) -> None:
        row = await repos.clients.get_by_client_id(client.client_id)
        row.id_token_signed_response_alg = alg
        await repos.clients.save(row)

    await db.run(choose)
    _, tokens = await code_flow_tokens(auth_client, client, user)
    assert token_header(tokens["access_token"])["alg"] == alg

    response = await resource_client.get("/api/v1/me", headers=_bearer(tokens["access_token"]))

    assert response.status_code == 200, response.text
    assert response.json()["id"] == user.id


@pytest.mark.parametrize(
    ("key_alg", "header_alg"),
    [("RS256", "PS256"), ("PS256", "RS256")],
    ids=["rs-as-ps", "ps-as-rs"],
)
async def test_me_rsa_token_whose_header_names_the_other_rsa_algorithm_is_refused(
    resource_client: httpx.AsyncClient,
    settings: AuthSettings,
    signing_keys: dict[str, SigningKey],
    user: TestUser,
    clock: TestClock,
    key_alg: str,
    header_alg: str,
) -> None:
    # A genuine signature by the issuer's RSA key, under the algorithm the key is not for.
    kid = signing_keys[key_alg].kid
    forger = Forger.from_key_dir(settings.key_dir, kid)
    payload = json.dumps(access_claims(clock(), sub=user.id)).encode()
    token = forger.sign_bytes({"alg": header_alg, "kid": kid, "typ": "at+jwt"}, payload, header_alg)

    response = await resource_client.get("/api/v1/me", headers=_bearer(token))

    assert_refused(response, MISMATCH)


async def test_me_eddsa_token_naming_the_es256_key_is_refused(
    resource_client: httpx.AsyncClient,
    settings: AuthSettings,
    signing_keys: dict[str, SigningKey],
    user: TestUser,
    clock: TestClock,
) -> None:
    # Signed by the issuer's real Ed25519 key, but with the kid of its P-256 key.
    pem = (settings.key_dir / f"{signing_keys['EdDSA'].kid}.pem").read_bytes()
    private = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private, Ed25519PrivateKey)
    header = {"alg": "EdDSA", "kid": signing_keys["ES256"].kid, "typ": "at+jwt"}
    signing_input = (
        f"{b64url(json.dumps(header).encode())}."
        f"{b64url(json.dumps(access_claims(clock(), sub=user.id)).encode())}"
    )
    token = f"{signing_input}.{b64url(private.sign(signing_input.encode()))}"

    response = await resource_client.get("/api/v1/me", headers=_bearer(token))

    assert_refused(response, MISMATCH)
