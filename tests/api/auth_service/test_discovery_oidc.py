"""The OpenID Provider configuration: OIDC Discovery 1.0 §3-§4, RFC 8414 §2, RFC 9207 §3."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ISSUER

# OIDC Discovery §3: REQUIRED for every OP (token_endpoint because we are not implicit-only).
DISCOVERY_REQUIRED = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
)
# What this provider must also advertise.
ADVERTISED = (
    "userinfo_endpoint",
    "end_session_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "scopes_supported",
    "claims_supported",
    "response_modes_supported",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
    "code_challenge_methods_supported",
    "authorization_response_iss_parameter_supported",
)
# Each endpoint with the method its specification documents.
ENDPOINTS = {
    "authorization_endpoint": ("GET", "/oauth/authorize"),
    "token_endpoint": ("POST", "/oauth/token"),
    "userinfo_endpoint": ("GET", "/oauth/userinfo"),
    "jwks_uri": ("GET", "/.well-known/jwks.json"),
    "end_session_endpoint": ("GET", "/oauth/logout"),
    "revocation_endpoint": ("POST", "/oauth/revoke"),
    "introspection_endpoint": ("POST", "/oauth/introspect"),
}
CLAIMS = (
    "sub",
    "name",
    "email",
    "email_verified",
    "preferred_username",
    "updated_at",
    "nonce",
    "auth_time",
    "at_hash",
)


@pytest.fixture
async def configuration(auth_client: httpx.AsyncClient) -> dict[str, Any]:
    response = await auth_client.get("/.well-known/openid-configuration")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


async def test_discovery_oidc_has_every_required_and_advertised_field(
    configuration: dict[str, Any],
) -> None:
    missing = [name for name in (*DISCOVERY_REQUIRED, *ADVERTISED) if name not in configuration]
    assert missing == []


async def test_discovery_oidc_issuer_is_exactly_the_url_it_is_served_under(
    configuration: dict[str, Any],
) -> None:
    # §4.3: the issuer MUST be identical to the URL the configuration was retrieved from.
    assert configuration["issuer"] == ISSUER


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
async def test_discovery_oidc_endpoint_urls_are_ours(
    configuration: dict[str, Any], name: str
) -> None:
    assert configuration[name] == ISSUER + ENDPOINTS[name][1]


async def test_discovery_oidc_end_session_endpoint_is_oauth_logout(
    configuration: dict[str, Any],
) -> None:
    assert configuration["end_session_endpoint"] == f"{ISSUER}/oauth/logout"


async def test_discovery_oidc_capabilities_have_the_exact_values(
    configuration: dict[str, Any],
) -> None:
    assert configuration["response_types_supported"] == ["code"]
    assert configuration["response_modes_supported"] == ["query"]
    assert configuration["subject_types_supported"] == ["public"]
    assert configuration["id_token_signing_alg_values_supported"] == [
        "RS256",
        "PS256",
        "ES256",
        "EdDSA",
    ]
    assert configuration["code_challenge_methods_supported"] == ["S256"]
    assert configuration["authorization_response_iss_parameter_supported"] is True


async def test_discovery_oidc_scopes_and_claims_cover_openid_and_the_released_claims(
    configuration: dict[str, Any],
) -> None:
    assert "openid" in configuration["scopes_supported"]
    assert {"profile", "email", "offline_access"} <= set(configuration["scopes_supported"])
    missing = [claim for claim in CLAIMS if claim not in configuration["claims_supported"]]
    assert missing == []


async def test_discovery_oidc_grant_types_and_client_auth_methods_are_listed(
    configuration: dict[str, Any],
) -> None:
    grant_types = configuration["grant_types_supported"]
    assert {"authorization_code", "refresh_token"} <= set(grant_types)
    assert "implicit" not in grant_types
    assert set(configuration["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
        "private_key_jwt",
        "client_secret_jwt",
    }


async def test_discovery_oidc_unsupported_request_features_are_false(
    configuration: dict[str, Any],
) -> None:
    # §3 defaults claims_parameter_supported to false but request_uri_parameter_supported to
    # true, so "not supported" must be stated explicitly.
    assert configuration["claims_parameter_supported"] is False
    assert configuration["request_uri_parameter_supported"] is False


async def test_discovery_oidc_announces_signed_request_objects(
    configuration: dict[str, Any],
) -> None:
    # RFC 9101 §10.5 / OIDC Discovery §3: `request` by value, asymmetric algorithms only.
    assert configuration["request_parameter_supported"] is True
    assert configuration["request_object_signing_alg_values_supported"] == [
        "RS256",
        "PS256",
        "ES256",
        "EdDSA",
    ]


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
async def test_discovery_oidc_advertised_endpoint_answers_its_documented_method(
    auth_client: httpx.AsyncClient, configuration: dict[str, Any], name: str
) -> None:
    method, _ = ENDPOINTS[name]
    path = configuration[name].removeprefix(ISSUER)

    response = await auth_client.request(method, path)

    assert response.status_code not in (404, 405), f"{name}: {method} {path} -> {response}"
