"""Text no handler should see — NUL, invalid UTF-8, lone surrogates, out-of-range integers — gets a
4xx everywhere, never a 500 (security.md: bad input of any shape). PostgreSQL, where NUL breaks a
query, runs these too when the suite runs on it."""

from __future__ import annotations

import httpx
import pytest

from auth_service.config import AuthSettings
from tests.factories import TestClient, TestUser
from tests.support.assertions import assert_oauth_error
from tests.support.flows import AuthorizationRequest, tokens_for

NUL_URLS = [
    "/oauth/authorize?client_id=a%00b",
    "/consent?request_id=x%00",
    "/login?next=/a%00",
    "/oauth/logout?client_id=a%00",
    "/developers/apps/a%00b",
    "/oauth/register/a%00b",
    "/oauth/revocations?since=0%00",
    "/a%00b",
    "/oauth/authorize?state=a%FFb&client_id=x",  # invalid UTF-8
]


@pytest.mark.parametrize("url", NUL_URLS)
async def test_malformed_url_is_400_invalid_request(
    auth_client: httpx.AsyncClient, url: str
) -> None:
    response = await auth_client.get(url)

    assert_oauth_error(response, "invalid_request", description="the URL is not valid UTF-8 text")
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/oauth/token", {"grant_type": "client_credentials", "client_id": "a\x00"}),
        ("/oauth/revoke", {"token": "t\x00", "client_id": "x"}),
        ("/oauth/introspect", {"token": "t\x00", "client_id": "x"}),
        ("/login", {"username": "x\x00", "password": "p"}),
        ("/signup", {"username": "x", "email": "a@b.example", "password": "p", "name": "M\x00"}),
    ],
)
async def test_form_with_nul_is_400(
    auth_client: httpx.AsyncClient, path: str, data: dict[str, str]
) -> None:
    response = await auth_client.post(path, data=data)

    assert response.status_code == 400, response.text


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    return settings.model_copy(update={"registration_open": True})


@pytest.mark.parametrize(
    "raw", [b'{"client_name": "a\\u0000b"}', b'{"client_name": "\\ud800"}', b'{"\\ud800": 1}']
)
async def test_registration_json_with_nul_or_lone_surrogate_is_400(
    auth_client: httpx.AsyncClient, raw: bytes
) -> None:
    response = await auth_client.post(
        "/oauth/register", content=raw, headers={"content-type": "application/json"}
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


async def test_revocation_feed_after_beyond_integer_range_is_400(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.get("/oauth/revocations", params={"after": str(2**40)})

    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/api/v1/notes/99999999999999999999", None),
        ("DELETE", "/api/v1/notes/99999999999999999999", None),
        ("GET", "/api/v1/notes?cursor=bjk5OTk5OTk5OTk5OTk5OTk5OTk", None),
        ("POST", "/api/v1/notes", b'{"title": "a\\u0000b"}'),
        ("POST", "/api/v1/notes", b'{"title": "\\ud800"}'),
    ],
)
async def test_notes_out_of_range_or_unencodable_input_is_422(
    auth_client: httpx.AsyncClient,
    resource_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    method: str,
    url: str,
    body: bytes | None,
) -> None:
    tokens = await tokens_for(
        auth_client, AuthorizationRequest(confidential_client, scope="read:notes write:notes"), user
    )
    headers = {
        "Authorization": f"Bearer {tokens['access_token']}",
        "content-type": "application/json",
    }

    response = await resource_client.request(method, url, content=body, headers=headers)

    assert response.status_code == 422, response.text
    assert all("input" not in error for error in response.json()["detail"])
