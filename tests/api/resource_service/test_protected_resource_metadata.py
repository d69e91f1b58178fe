"""GET /.well-known/oauth-protected-resource (RFC 9728 §3) and the challenges that point to it (§5.1)."""

from __future__ import annotations

import httpx

from shared.dpop import DPOP_ALGORITHMS
from tests.conftest import AUDIENCE, ISSUER
from tests.support.challenges import RESOURCE_METADATA, parse_challenges

EXPECTED = {
    "resource": AUDIENCE,
    "authorization_servers": [ISSUER],
    # What the routes' require_scopes ask for: /api/v1/me, /api/v1/email and the notes.
    "scopes_supported": ["email", "profile", "read:notes", "write:notes"],
    "bearer_methods_supported": ["header"],
    "dpop_signing_alg_values_supported": list(DPOP_ALGORITHMS),
    "resource_name": "MyAuthProvider resource API",
}


async def test_protected_resource_metadata_lists_exactly_what_the_api_serves(
    resource_client: httpx.AsyncClient,
) -> None:
    response = await resource_client.get("/.well-known/oauth-protected-resource")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.json() == EXPECTED


async def test_protected_resource_metadata_url_in_a_challenge_leads_to_the_document(
    resource_client: httpx.AsyncClient,
) -> None:
    refused = await resource_client.get("/api/v1/notes")
    urls = {
        params["resource_metadata"]
        for _, params in parse_challenges(refused.headers["www-authenticate"])
    }

    assert urls == {RESOURCE_METADATA}
    # RFC 9728 §3.3: the document names the resource whose identifier gave its URL.
    document = await resource_client.get(RESOURCE_METADATA)
    assert document.json()["resource"] == AUDIENCE


async def test_protected_resource_metadata_has_no_document_for_the_mcp_path(
    resource_client: httpx.AsyncClient,
) -> None:
    # RFC 9728 §3.3: a document there would have to name <base>/mcp, which no token is for; the
    # MCP endpoint's challenges point at the root document instead (checked in test_mcp).
    response = await resource_client.get("/.well-known/oauth-protected-resource/mcp")

    assert response.status_code == 404


async def test_protected_resource_metadata_refuses_other_methods(
    resource_client: httpx.AsyncClient,
) -> None:
    response = await resource_client.post("/.well-known/oauth-protected-resource", json={})

    assert response.status_code == 405
