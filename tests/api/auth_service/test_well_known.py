"""Discovery (OIDC Discovery 1.0, RFC 8414) and the JWKS (RFC 7517)."""

from __future__ import annotations

import httpx

from shared.models import SigningKey
from shared.scopes import SCOPES
from tests.conftest import ISSUER


async def test_well_known_discovery_describes_every_endpoint_and_capability(
    auth_client: httpx.AsyncClient,
) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        response = await auth_client.get(path)
        assert response.status_code == 200
        assert response.headers["cache-control"].startswith("public, max-age=")
        metadata = response.json()
        assert metadata["issuer"] == ISSUER
        assert metadata["authorization_endpoint"] == f"{ISSUER}/oauth/authorize"
        assert metadata["token_endpoint"] == f"{ISSUER}/oauth/token"
        assert metadata["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
        assert metadata["response_types_supported"] == ["code"]
        assert metadata["code_challenge_methods_supported"] == ["S256"]
        assert metadata["authorization_response_iss_parameter_supported"] is True
        assert metadata["scopes_supported"] == list(SCOPES)
        assert {"authorization_code", "refresh_token"} <= set(metadata["grant_types_supported"])
        assert "implicit" not in metadata["grant_types_supported"]
        assert set(metadata["token_endpoint_auth_methods_supported"]) == {
            "client_secret_basic",
            "client_secret_post",
            "none",
            "private_key_jwt",
            "client_secret_jwt",
        }


async def test_well_known_discovery_lists_only_endpoints_that_answer(
    auth_client: httpx.AsyncClient,
) -> None:
    metadata = (await auth_client.get("/.well-known/openid-configuration")).json()
    for name, url in metadata.items():
        if name.endswith("_endpoint") or name == "jwks_uri":
            path = url.removeprefix(ISSUER)
            response = await auth_client.request("OPTIONS" if "token" in name else "GET", path)
            assert response.status_code != 404, f"{name} {path} does not exist"


async def test_well_known_jwks_publishes_one_key_per_algorithm_without_private_parts(
    auth_client: httpx.AsyncClient, signing_keys: dict[str, SigningKey]
) -> None:
    response = await auth_client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = {k["alg"]: k for k in response.json()["keys"]}
    assert len(response.json()["keys"]) == 4
    assert {alg: k["kid"] for alg, k in keys.items()} == {
        alg: row.kid for alg, row in signing_keys.items()
    }
    # RFC 7518 §6.3 (RSA), §6.2 (EC P-256), RFC 8037 §2 (OKP Ed25519): public members only.
    assert set(keys["RS256"]) == set(keys["PS256"]) == {"kty", "n", "e", "alg", "kid", "use"}
    assert keys["RS256"]["kty"] == keys["PS256"]["kty"] == "RSA"
    assert set(keys["ES256"]) == {"kty", "crv", "x", "y", "alg", "kid", "use"}
    assert (keys["ES256"]["kty"], keys["ES256"]["crv"]) == ("EC", "P-256")
    assert set(keys["EdDSA"]) == {"kty", "crv", "x", "alg", "kid", "use"}
    assert (keys["EdDSA"]["kty"], keys["EdDSA"]["crv"]) == ("OKP", "Ed25519")
    assert {k["use"] for k in keys.values()} == {"sig"}
