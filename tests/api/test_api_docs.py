"""`/docs` on both services: Swagger UI from the installed package, nothing from a CDN."""

from __future__ import annotations

import re

import httpx
import pytest


@pytest.fixture(params=["auth", "resource"])
def service(
    request: pytest.FixtureRequest,
    auth_client: httpx.AsyncClient,
    resource_client: httpx.AsyncClient,
) -> httpx.AsyncClient:
    return auth_client if request.param == "auth" else resource_client


async def test_api_docs_page_loads_only_its_own_assets(service: httpx.AsyncClient) -> None:
    page = await service.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assert "http" not in csp  # no CDN host is allowed
    assert "cdn" not in page.text
    assert "<script>" not in page.text  # no inline script
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources == [
        "docs/assets/swagger-ui.css",
        "docs/assets/swagger-ui-bundle.js",
        "docs/init.js",
    ]
    for source in sources:
        asset = await service.get("/" + source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 100
    init = await service.get("/docs/init.js")
    assert init.headers["content-type"].startswith("text/javascript")
    assert 'url: "openapi.json"' in init.text
    assert (await service.get("/openapi.json")).status_code == 200


async def test_api_docs_old_cdn_routes_are_gone(service: httpx.AsyncClient) -> None:
    assert (await service.get("/docs/oauth2-redirect")).status_code == 404
    assert (await service.get("/redoc")).status_code == 404


async def test_api_docs_keep_the_frame_and_sniffing_headers_on_the_auth_service(
    auth_client: httpx.AsyncClient,
) -> None:
    page = await auth_client.get("/docs")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    # Exactly one policy: the page's own, not the consent pages' stricter one beside it.
    assert len(page.headers.get_list("content-security-policy")) == 1
