"""Assertions on the exact protocol shape of responses."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import ISSUER


def assert_oauth_error(
    response: httpx.Response, error: str, *, status: int = 400, description: str | None = None
) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert set(body) == {"error", "error_description"}, body
    if description is not None:
        assert body["error_description"] == description, body
    assert response.headers["cache-control"] == "no-store"


def redirect_params(response: httpx.Response, redirect_uri: str) -> dict[str, str]:
    """The query of a redirect to `redirect_uri`, asserting it is one (and a 302/303)."""
    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?"), location
    query = parse_qs(urlsplit(location).query, keep_blank_values=True)
    assert all(len(v) == 1 for v in query.values()), query
    return {k: v[0] for k, v in query.items()}


def assert_redirect_error(
    response: httpx.Response, redirect_uri: str, error: str, *, state: str | None
) -> dict[str, str]:
    params = redirect_params(response, redirect_uri)
    assert params["error"] == error, params
    assert params["iss"] == ISSUER
    assert params.get("state") == state
    return params


def assert_error_page(response: httpx.Response, text: str, *, status: int = 400) -> None:
    """Our own HTML error page: never a redirect."""
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert text in response.text, response.text
