"""What the auth service puts on the wire as `error_description` and in `WWW-Authenticate`
stays in %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3), even when a
request value with a double quote, a backslash or non-ASCII letters is part of the text."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest

from auth_service.config import AuthSettings
from shared.errors import PROTOCOL_TEXT_CHARACTERS
from shared.models import Client
from tests.factories import REDIRECT_URI, TestClient
from tests.support.assertions import assert_oauth_error, redirect_params
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest
from tests.support.lifecycle import bearer, snapshot
from tests.support.token_endpoint import post_token

INITIAL_TOKEN = "initial-access-token-for-text-tests"  # noqa: S105 - test credential
HOSTILE_NAME = 'na\u00efve"\\'  # a parameter name: i with diaeresis, double quote, backslash
REDUCED_NAME = "na?ve'?"
# RFC 7235 §2.1 challenge with RFC 6750 §3 attribute values: quoted, none holding a quote.
_VALUE = "[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]*"
# RFC 9449 §7.1: a DPoP challenge may follow the Bearer one.
BEARER_CHALLENGE = re.compile(rf'Bearer \w+="{_VALUE}"(, (DPoP )?\w+="{_VALUE}")*')


def assert_protocol_text(value: str) -> None:
    assert PROTOCOL_TEXT_CHARACTERS.issuperset(value), value


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    return settings.model_copy(update={"registration_initial_access_token": INITIAL_TOKEN})


async def test_error_texts_token_unknown_grant_type_is_reduced_to_the_rfc_set(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    before = await snapshot(db)

    response = await post_token(auth_client, confidential_client, {"grant_type": 'x"\\\u00e9'})

    assert_oauth_error(
        response, "unsupported_grant_type", description="grant_type 'x'??' is not supported"
    )
    assert await snapshot(db) == before


async def test_error_texts_token_repeated_parameter_name_is_reduced_to_the_rfc_set(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    before = await snapshot(db)
    body = "grant_type=client_credentials&a%22b=1&a%22b=2"

    response = await auth_client.post(
        "/oauth/token",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=confidential_client.basic_auth(),
    )

    assert_oauth_error(
        response, "invalid_request", description="parameter a'b was sent more than once"
    )
    assert await snapshot(db) == before


async def test_error_texts_authorize_repeated_parameter_name_is_reduced_in_the_redirect(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client)
    name = quote(HOSTILE_NAME, safe="")
    before = await snapshot(db)

    response = await auth_client.get(f"{request.url()}&{name}=1&{name}=2")

    params = redirect_params(response, REDIRECT_URI)
    assert params["error"] == "invalid_request"
    assert params["error_description"] == f"parameter {REDUCED_NAME} was sent more than once"
    assert params["state"] == request.state
    assert await snapshot(db) == before


async def test_error_texts_registration_echoed_redirect_uri_is_reduced_to_the_rfc_set(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    uri = 'https://dyn\u00e4mic.example/cb#"x'

    response = await auth_client.post(
        "/oauth/register",
        json={"redirect_uris": [uri]},
        headers=bearer(INITIAL_TOKEN),
    )

    assert_oauth_error(
        response,
        "invalid_redirect_uri",
        description="https://dyn?mic.example/cb#'x: redirect URI must not contain a fragment "
        "(RFC 6749 section 3.1.2)",
    )
    assert await db.count(Client) == 0


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/oauth/userinfo", {}),
        ("/oauth/userinfo", {"Authorization": "Bearer not-a-jwt"}),
        ("/oauth/userinfo", {"Authorization": "Bearer a b"}),
        ("/oauth/register", {"Authorization": "Bearer wrong-initial-token"}),
    ],
    ids=["userinfo-no-token", "userinfo-garbage", "userinfo-malformed", "register-wrong-token"],
)
async def test_error_texts_bearer_challenges_of_the_auth_service_stay_in_the_rfc_set(
    auth_client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    if path == "/oauth/register":
        response = await auth_client.post(path, json={}, headers=headers)
    else:
        response = await auth_client.get(path, headers=headers)

    assert response.status_code in (400, 401), response.text
    challenge = response.headers["www-authenticate"]
    assert BEARER_CHALLENGE.fullmatch(challenge), challenge
    for value in response.json().values():
        assert_protocol_text(value)
