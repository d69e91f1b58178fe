"""DPoP beyond the token endpoint: introspection's `cnf` and `token_type` (RFC 9449 §6.2), the
UserInfo endpoint as a protected resource (§7), discovery (§5.1) and client metadata (§5.2).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from shared.models import Client, UsedJti
from tests.conftest import ISSUER
from tests.factories import TestClient, TestUser
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.dpop import DpopKey, dpop_code_flow_token
from tests.support.lifecycle import introspect, snapshot, verified_claims

USERINFO = f"{ISSUER}/oauth/userinfo"
REALM = "myauth-userinfo"
ALGS = "ES256 PS256 EdDSA RS256"
INITIAL_TOKEN = "initial-access-token-for-dpop-tests-0123456789"  # noqa: S105 - test credential
_PARAM = re.compile(r'(\w+)="([^"]*)"')


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    return settings.model_copy(update={"registration_initial_access_token": INITIAL_TOKEN})


@pytest.fixture
def key() -> DpopKey:
    return DpopKey("ES256")


@pytest.fixture
async def dpop_token(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    key: DpopKey,
    clock: TestClock,
) -> str:
    return await dpop_code_flow_token(auth_client, confidential_client, user, key, clock())


def assert_dpop_error(response: httpx.Response, error: str, description: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"error": error, "error_description": description}
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("DPoP "), challenge
    assert dict(_PARAM.findall(challenge)) == {
        "realm": REALM,
        "error": error,
        "error_description": description,
        "algs": ALGS,
    }


async def test_introspect_dpop_token_returns_cnf_and_dpop_token_type(
    auth_client: httpx.AsyncClient, introspector: TestClient, dpop_token: str, key: DpopKey
) -> None:
    response = await introspect(auth_client, introspector, dpop_token)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["active"] is True
    assert (body["token_type"], body["cnf"]) == ("DPoP", {"jkt": key.jkt})  # RFC 9449 §6.2


async def test_introspect_bearer_token_has_no_cnf(
    auth_client: httpx.AsyncClient, introspector: TestClient, tokens: dict[str, Any]
) -> None:
    body = (await introspect(auth_client, introspector, tokens["access_token"])).json()

    assert body["token_type"] == "Bearer"
    assert "cnf" not in body


async def test_userinfo_dpop_token_with_proof_returns_claims(
    auth_client: httpx.AsyncClient,
    db: Database,
    user: TestUser,
    dpop_token: str,
    key: DpopKey,
    clock: TestClock,
) -> None:
    for method in ("GET", "POST"):
        proof = key.proof(method, USERINFO, now=clock(), access_token=dpop_token)
        response = await auth_client.request(
            method,
            "/oauth/userinfo",
            headers={"Authorization": f"DPoP {dpop_token}", "DPoP": proof},
        )
        assert response.status_code == 200, response.text
        assert response.json()["sub"] == user.id
    assert await db.count(UsedJti) == 3  # the token request's proof and these two


async def test_userinfo_dpop_token_sent_as_bearer_returns_401_dpop_invalid_token(
    auth_client: httpx.AsyncClient, dpop_token: str
) -> None:
    response = await auth_client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {dpop_token}"}
    )

    assert_dpop_error(
        response,
        "invalid_token",
        "the access token is DPoP-bound: send it with the DPoP scheme and a proof",
    )


@pytest.mark.parametrize("case", ["other-key", "replay", "url", "missing"])
async def test_userinfo_dpop_bad_proof_returns_401_invalid_dpop_proof_and_stores_nothing(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    db: Database,
    dpop_token: str,
    key: DpopKey,
    clock: TestClock,
    case: str,
) -> None:
    good = key.proof("GET", USERINFO, now=clock(), access_token=dpop_token)
    if case == "replay":
        first = await auth_client.get(
            "/oauth/userinfo", headers={"Authorization": f"DPoP {dpop_token}", "DPoP": good}
        )
        assert first.status_code == 200, first.text
    proof, description = {
        "other-key": (
            DpopKey().proof("GET", USERINFO, now=clock(), access_token=dpop_token),
            "the DPoP proof key is not the key the token is bound to",
        ),
        "replay": (good, "the DPoP proof was already used"),
        "url": (
            key.proof("GET", f"{ISSUER}/oauth/token", now=clock(), access_token=dpop_token),
            "the DPoP proof htu does not match the request URI",
        ),
        "missing": (None, "a DPoP proof is required with a DPoP access token"),
    }[case]
    headers = {"Authorization": f"DPoP {dpop_token}"}
    if proof is not None:
        headers["DPoP"] = proof
    await auth_app.state.audit_buffer.flush()
    before = await snapshot(db)

    response = await auth_client.get("/oauth/userinfo", headers=headers)

    assert_dpop_error(response, "invalid_dpop_proof", description)
    assert await snapshot(db) == before


async def test_discovery_lists_dpop_signing_algorithms(auth_client: httpx.AsyncClient) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        metadata = (await auth_client.get(path)).json()
        assert metadata["dpop_signing_alg_values_supported"] == ["ES256", "PS256", "EdDSA", "RS256"]


async def test_registration_dpop_bound_access_tokens_is_stored_and_echoed(
    auth_client: httpx.AsyncClient, db: Database
) -> None:
    metadata = {"redirect_uris": ["https://app.example/cb"], "dpop_bound_access_tokens": True}

    response = await auth_client.post(
        "/oauth/register", json=metadata, headers={"Authorization": f"Bearer {INITIAL_TOKEN}"}
    )

    assert response.status_code == 201, response.text
    assert response.json()["dpop_bound_access_tokens"] is True  # RFC 9449 §5.2, RFC 7591 §3.2.1
    client = await db.get(Client, response.json()["client_id"])
    assert client is not None and client.dpop_bound_access_tokens is True


async def test_registration_dpop_bound_access_tokens_not_boolean_is_invalid_client_metadata(
    auth_client: httpx.AsyncClient, db: Database
) -> None:
    metadata = {"redirect_uris": ["https://app.example/cb"], "dpop_bound_access_tokens": "yes"}
    count = await db.count(Client)

    response = await auth_client.post(
        "/oauth/register", json=metadata, headers={"Authorization": f"Bearer {INITIAL_TOKEN}"}
    )

    assert response.status_code == 400, response.text
    assert response.json() == {
        "error": "invalid_client_metadata",
        "error_description": "dpop_bound_access_tokens must be true or false",
    }
    assert await db.count(Client) == count


async def test_dpop_token_claims_carry_the_rfc_7638_thumbprint(
    auth_client: httpx.AsyncClient, dpop_token: str, key: DpopKey
) -> None:
    assert (await verified_claims(auth_client, dpop_token))["cnf"] == {"jkt": key.jkt}
