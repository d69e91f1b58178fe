"""JOSE input built to break parsers (NaN times, deep nesting, odd key members) gets the
standard error of its endpoint, never a 500 (RFC 8259 section 6 has no NaN or Infinity)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from shared.tokens import strict_json
from tests.conftest import ISSUER
from tests.factories import TestClient
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.dpop import DpopKey

TOKEN_URL = f"{ISSUER}/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e999", "[" * 5000 + "]" * 5000])
def test_strict_json_refuses_what_rfc_8259_has_not(text: str) -> None:
    with pytest.raises(ValueError):
        strict_json(text)
    assert strict_json('{"iat": 1.5, "n": [1, [2]]}') == {"iat": 1.5, "n": [1, [2]]}


@pytest.mark.parametrize("iat", [float("nan"), float("inf")])
async def test_dpop_proof_with_a_non_finite_iat_is_invalid_dpop_proof(
    auth_client: httpx.AsyncClient, public_client: TestClient, clock: TestClock, iat: float
) -> None:
    proof = DpopKey("ES256").proof("POST", TOKEN_URL, now=clock(), claims={"iat": iat})
    assert "NaN" in _payload(proof) or "Infinity" in _payload(proof)

    response = await auth_client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_id": public_client.client_id,
        },
        headers={"DPoP": proof},
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_dpop_proof"


async def test_client_assertion_with_a_deeply_nested_header_is_invalid_client(
    auth_client: httpx.AsyncClient,
) -> None:
    header = b64(("[" * 1500 + "]" * 1500).encode())
    assertion = f"{header}.{b64(b'{}')}.{b64(b'sig')}"

    response = await auth_client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )

    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("invalid_client", "invalid_request")


@pytest.mark.parametrize("alg", [["RS256"], {"x": 1}, 7])
async def test_registration_with_a_jwk_whose_alg_is_not_a_string_is_invalid_client_metadata(
    auth_client: httpx.AsyncClient, settings: Any, alg: Any
) -> None:
    settings.registration_open = True
    key = DpopKey("ES256").jwk
    response = await auth_client.post(
        "/oauth/register",
        json={
            "client_name": "Keys",
            "redirect_uris": ["https://keys.example/cb"],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [{**key, "alg": alg}]},
        },
    )

    assert_oauth_error(response, "invalid_client_metadata")


def _payload(token: str) -> str:
    segment = token.split(".")[1]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()
