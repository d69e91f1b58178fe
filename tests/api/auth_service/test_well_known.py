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


async def test_well_known_jwks_publishes_the_signing_key_without_private_parts(
    auth_client: httpx.AsyncClient, signing_key: SigningKey
) -> None:
    response = await auth_client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert [k["kid"] for k in keys] == [signing_key.kid]
    assert set(keys[0]) == {"kty", "n", "e", "alg", "kid", "use"}
    assert keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig"
