"""Client authentication methods come from one registry (RFC 6749 §2.3, RFC 7591 §2)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from auth_service.oauth.client_auth import (
    AUTH_METHODS,
    BASIC_CHALLENGE,
    auth_method_names,
    authenticate_client,
    read_client_credentials,
)
from auth_service.security.secrets import hash_token
from shared.errors import InvalidClientError, InvalidRequestError
from shared.models import Client

SECRET = "s3cret-value-of-enough-length-0123456789"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def client(method: str, *, public: bool = False) -> Client:
    return Client(
        client_id="app",
        client_secret_hash=None if public else hash_token(SECRET),
        name="App",
        redirect_uris=[],
        scope="openid",
        grant_types=["authorization_code"],
        is_public=public,
        token_endpoint_auth_method=method,
        created_at=NOW,
        updated_at=NOW,
    )


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def authenticate(
    registered: Client, authorization: str | None, form: dict[str, str]
) -> Client:
    async def lookup(client_id: str) -> Client | None:
        return registered if client_id == registered.client_id else None

    return await authenticate_client(read_client_credentials(authorization, form), lookup)


def test_client_auth_registry_lists_methods_in_registry_order() -> None:
    assert auth_method_names() == (
        "client_secret_basic",
        "client_secret_post",
        "none",
        "private_key_jwt",
        "client_secret_jwt",
    )
    assert auth_method_names(public=False) == (
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "client_secret_jwt",
    )
    assert auth_method_names(public=True) == ("none",)
    assert list(AUTH_METHODS) == list(auth_method_names())


@pytest.mark.parametrize("registered", ["client_secret_basic", "client_secret_post"])
async def test_client_auth_secret_methods_stand_in_for_each_other(registered: str) -> None:
    app = client(registered)
    assert await authenticate(app, basic("app", SECRET), {}) is app
    assert await authenticate(app, None, {"client_id": "app", "client_secret": SECRET}) is app


async def test_client_auth_public_client_authenticates_with_none() -> None:
    app = client("none", public=True)
    assert await authenticate(app, None, {"client_id": "app"}) is app


async def test_client_auth_confidential_client_without_secret_is_refused() -> None:
    with pytest.raises(InvalidClientError) as raised:
        await authenticate(client("client_secret_basic"), None, {"client_id": "app"})
    assert raised.value.description == "client authentication failed"
    assert raised.value.headers().get("WWW-Authenticate") is None


async def test_client_auth_public_client_sending_a_secret_is_refused_with_basic_challenge() -> None:
    with pytest.raises(InvalidClientError) as raised:
        await authenticate(client("none", public=True), basic("app", SECRET), {})
    assert raised.value.description == "client authentication failed"
    assert raised.value.headers()["WWW-Authenticate"] == BASIC_CHALLENGE


async def test_client_auth_basic_and_body_secret_together_is_invalid_request() -> None:
    with pytest.raises(InvalidRequestError) as raised:
        read_client_credentials(basic("app", SECRET), {"client_secret": SECRET})
    assert raised.value.description == (
        "use either HTTP Basic or client_secret in the body, not both"
    )


async def test_client_auth_no_credentials_at_all_is_invalid_client() -> None:
    with pytest.raises(InvalidClientError) as raised:
        read_client_credentials(None, {"grant_type": "client_credentials"})
    assert raised.value.description == "client authentication is required"
