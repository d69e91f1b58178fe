"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from shared.models import AuditEvent, Client, RevocationEvent
from tests.conftest import ISSUER
from tests.factories import TestClient, TestUser
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, tokens_for
from tests.support.lifecycle import bearer, challenge_params
from tests.support.pages import open_consent, sha256_hex
from tests.support.portal import browser, database_text

INITIAL_TOKEN = "initial-access-token-for-tests-0123456789"  # noqa: S105 - test credential
REALM = "myauth-registration"
BAD_RAT = "the registration access token is not valid for this client"
WITH_TOKEN = {"registration_initial_access_token": INITIAL_TOKEN}
METADATA: dict[str, Any] = {
    "client_name": "Dynamic App",
    "redirect_uris": ["https://dynamic.example/callback"],
    "post_logout_redirect_uris": ["https://dynamic.example/bye"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "client_secret_basic",
    "scope": "openid profile read:notes",
    "client_uri": "https://dynamic.example",
    "logo_uri": "https://dynamic.example/logo.png",
}


# OIDC Registration §2: what every client is registered with, echoed in every response.
PROVIDER_VALUES: dict[str, Any] = {
    "id_token_signed_response_alg": "RS256",
    "subject_type": "public",
    "require_auth_time": True,
}
INFORMATIONAL: dict[str, Any] = {
    "contacts": ["ops@dynamic.example", "Jane Doe <jane@dynamic.example>"],
    "tos_uri": "https://dynamic.example/terms",
    "policy_uri": "https://dynamic.example/privacy",
    "software_id": "4NRB1-0XZABZI9E6-5SM3R",
    "software_version": "2.1.0",
    "application_type": "web",
}


AUTH_METHOD_RULE = (
    "token_endpoint_auth_method must be none for public clients and "
    "client_secret_basic or client_secret_post or private_key_jwt or client_secret_jwt "
    "for confidential ones"
)


@pytest.fixture
def setting_overrides() -> dict[str, Any]:
    """Registration is enabled for every test here unless a test parametrizes this."""
    return WITH_TOKEN


@pytest.fixture
def settings(settings: AuthSettings, setting_overrides: dict[str, Any]) -> AuthSettings:
    return settings.model_copy(update=setting_overrides)


def initial_auth(token: str = INITIAL_TOKEN) -> dict[str, str]:
    return bearer(token)


async def register(
    auth: httpx.AsyncClient, metadata: dict[str, Any] | None = None, **changes: Any
) -> httpx.Response:
    body = {**(METADATA if metadata is None else metadata), **changes}
    return await auth.post("/oauth/register", json=body, headers=initial_auth())


async def registered(auth: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await register(auth, **changes)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def management_path(body: dict[str, Any]) -> str:
    uri: str = body["registration_client_uri"]
    assert uri.startswith(ISSUER)
    return uri[len(ISSUER) :]


def assert_bearer_refused(response: httpx.Response, description: str) -> None:
    """RFC 6750 §3.1 invalid_token: 401, the same code in body and challenge."""
    assert_oauth_error(response, "invalid_token", status=401, description=description)
    params = challenge_params(response.headers["www-authenticate"])
    assert params == {"realm": REALM, "error": "invalid_token", "error_description": description}


# --- Disabled unless the operator says so ---


@pytest.mark.parametrize("setting_overrides", [{}])
async def test_register_disabled_by_default_is_404_and_not_in_discovery(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    post = await auth_client.post("/oauth/register", json=METADATA, headers=initial_auth())
    read = await auth_client.get("/oauth/register/some-client", headers=initial_auth())
    delete = await auth_client.delete("/oauth/register/some-client", headers=initial_auth())
    discovery = (await auth_client.get("/.well-known/openid-configuration")).json()

    assert (post.status_code, read.status_code, delete.status_code) == (404, 404, 404)
    assert "registration_endpoint" not in discovery
    assert await db.count(Client) == 0


async def test_register_enabled_is_listed_in_discovery(auth_client: httpx.AsyncClient) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        metadata = (await auth_client.get(path)).json()
        assert metadata["registration_endpoint"] == f"{ISSUER}/oauth/register", path


# --- The initial access token (RFC 7591 §3) ---


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["none", "other-scheme"],
)
async def test_register_without_bearer_token_returns_401_challenge(
    db: Database, auth_client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await auth_client.post("/oauth/register", json=METADATA, headers=headers)

    # RFC 6750 §3.1: no credentials at all gets a challenge without an error code.
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
    assert response.json() == {"error_description": "a bearer access token is required"}
    assert await db.count(Client) == 0


@pytest.mark.parametrize(
    "token", [INITIAL_TOKEN + "x", INITIAL_TOKEN[:-1], "wrong"], ids=["longer", "shorter", "other"]
)
async def test_register_wrong_initial_access_token_returns_401_invalid_token(
    db: Database, auth_client: httpx.AsyncClient, token: str
) -> None:
    response = await auth_client.post("/oauth/register", json=METADATA, headers=bearer(token))

    assert_bearer_refused(response, "the initial access token is not valid")
    assert await db.count(Client) == 0


# --- Registering ---


async def test_register_confidential_client_returns_201_with_credentials_and_metadata(
    db: Database, auth_client: httpx.AsyncClient, clock: TestClock
) -> None:
    # RFC 7591 §2: metadata nobody defined is ignored.
    response = await register(auth_client, foo={"x": 1}, x_vendor_flag=True)

    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    client_id = body["client_id"]
    assert body == {
        **METADATA,
        **PROVIDER_VALUES,
        "client_id": client_id,
        "client_id_issued_at": body["client_id_issued_at"],
        "client_secret": body["client_secret"],
        "client_secret_expires_at": 0,
        "registration_access_token": body["registration_access_token"],
        "registration_client_uri": f"{ISSUER}/oauth/register/{client_id}",
    }
    assert abs(body["client_id_issued_at"] - clock().timestamp()) < 5
    assert isinstance(body["client_id_issued_at"], int)
    assert len(body["client_secret"]) >= 43 and len(body["registration_access_token"]) >= 43
    row = await db.get(Client, client_id)
    assert row is not None
    assert row.client_secret_hash == sha256_hex(body["client_secret"])
    assert row.registration_access_token_hash == sha256_hex(body["registration_access_token"])
    assert (row.is_public, row.require_pkce, row.is_first_party, row.owner_id) == (
        False,
        True,
        False,
        None,
    )
    stored = await database_text(db)
    assert body["client_secret"] not in stored
    assert body["registration_access_token"] not in stored
    (event,) = await db.all(AuditEvent, AuditEvent.event == "client_registered")
    assert (event.client_id, event.details) == (client_id, {"via": "dynamic_registration"})


async def test_register_minimal_metadata_gets_defaults(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    body = await registered_minimal(auth_client)

    assert {k: body[k] for k in ("client_name", "grant_types", "response_types", "scope")} == {
        "client_name": "Unnamed app",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "scope": "openid",
    }
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert "client_secret" in body


async def registered_minimal(auth: httpx.AsyncClient) -> dict[str, Any]:
    response = await register(auth, {"redirect_uris": ["https://min.example/cb"]})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_register_public_client_gets_no_secret(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await register(auth_client, token_endpoint_auth_method="none")

    assert response.status_code == 201
    body = response.json()
    assert "client_secret" not in body
    assert "client_secret_expires_at" not in body
    assert body["token_endpoint_auth_method"] == "none"
    row = await db.get(Client, body["client_id"])
    assert row is not None
    assert (row.is_public, row.client_secret_hash, row.require_pkce) == (True, None, True)


async def test_register_client_secret_post_is_kept(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    body = await registered(auth_client, token_endpoint_auth_method="client_secret_post")

    assert body["token_endpoint_auth_method"] == "client_secret_post"
    row = await db.get(Client, body["client_id"])
    assert row is not None and row.token_endpoint_auth_method == "client_secret_post"


async def test_register_registered_client_completes_the_code_flow(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    body = await registered(auth_client)
    row = await db.get(Client, body["client_id"])
    assert row is not None

    tokens = await tokens_for(
        auth_client, AuthorizationRequest(TestClient(row, body["client_secret"])), user
    )

    assert tokens["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("redirect_uris", "description"),
    [
        (
            ["http://dynamic.example/cb"],
            "http://dynamic.example/cb: http redirect URIs are allowed only for localhost, "
            "127.0.0.1 and [::1] (RFC 8252 section 7.3)",
        ),
        (
            ["https://dynamic.example/cb#x"],
            "https://dynamic.example/cb#x: redirect URI must not contain a fragment "
            "(RFC 6749 section 3.1.2)",
        ),
        (["/cb"], "/cb: redirect URI must be absolute (RFC 6749 section 3.1.2)"),
        (
            ["https://*.dynamic.example/cb"],
            "https://*.dynamic.example/cb: redirect URI must not contain wildcards "
            "(RFC 9700 section 4.1.3)",
        ),
        (
            ["javascript:alert(1)"],
            "javascript:alert(1): the javascript: scheme cannot be a redirect URI",
        ),
        ([], "at least one redirect URI is required"),
    ],
    ids=["http", "fragment", "relative", "wildcard", "javascript", "none"],
)
async def test_register_invalid_redirect_uri_returns_invalid_redirect_uri(
    db: Database, auth_client: httpx.AsyncClient, redirect_uris: list[str], description: str
) -> None:
    response = await register(auth_client, redirect_uris=redirect_uris)

    # RFC 7591 §3.2.2
    assert_oauth_error(response, "invalid_redirect_uri", description=description)
    assert await db.count(Client) == 0


async def test_register_invalid_post_logout_uri_returns_invalid_redirect_uri(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await register(auth_client, post_logout_redirect_uris=["http://evil.example/"])

    assert_oauth_error(response, "invalid_redirect_uri")
    assert await db.count(Client) == 0


@pytest.mark.parametrize(
    ("changes", "description"),
    [
        ({"response_types": ["token"]}, "only the code response type is supported"),
        (
            {"response_types": ["code", "id_token"]},
            "only the code response type is supported",
        ),
        (
            {"grant_types": ["authorization_code", "password"]},
            "grant_types may be authorization_code, refresh_token, client_credentials, "
            "urn:ietf:params:oauth:grant-type:device_code",
        ),
        (
            {"grant_types": ["implicit"], "response_types": []},
            "grant_types may be authorization_code, refresh_token, client_credentials, "
            "urn:ietf:params:oauth:grant-type:device_code",
        ),
        (
            {"grant_types": ["client_credentials"]},
            "response_types code needs grant_types authorization_code",
        ),
        (
            {"token_endpoint_auth_method": "tls_client_auth"},
            "token_endpoint_auth_method must be none for public clients and "
            "client_secret_basic or client_secret_post or private_key_jwt or client_secret_jwt "
            "for confidential ones",
        ),
        (
            {"redirect_uris": "https://dynamic.example/callback"},
            "redirect_uris must be an array of at most 20 strings",
        ),
        (
            {"redirect_uris": [f"https://dynamic.example/{i}" for i in range(21)]},
            "redirect_uris must be an array of at most 20 strings",
        ),
        ({"redirect_uris": [1]}, "redirect_uris must be an array of at most 20 strings"),
        (
            {"client_name": "x" * 201},
            "client_name must be a string of at most 200 characters",
        ),
        ({"client_name": 42}, "client_name must be a string of at most 200 characters"),
        ({"scope": "openid admin"}, "unknown scope: admin"),
        ({"scope": "openid  profile"}, "scope is malformed"),
        (
            {"client_uri": "http://dynamic.example"},
            "the URL must use https (http only for localhost)",
        ),
        ({"logo_uri": "javascript:alert(1)"}, "the URL must be an absolute https URL"),
    ],
    ids=[
        "response-type-token",
        "response-type-id-token",
        "grant-password",
        "grant-implicit",
        "code-without-authorization-code",
        "unknown-auth-method",
        "redirect-uris-not-a-list",
        "too-many-redirect-uris",
        "redirect-uri-not-a-string",
        "client-name-too-long",
        "client-name-not-a-string",
        "unknown-scope",
        "malformed-scope",
        "client-uri-http",
        "logo-uri-javascript",
    ],
)
async def test_register_bad_metadata_returns_invalid_client_metadata(
    db: Database, auth_client: httpx.AsyncClient, changes: dict[str, Any], description: str
) -> None:
    response = await register(auth_client, **changes)

    assert_oauth_error(response, "invalid_client_metadata", description=description)
    assert await db.count(Client) == 0


# --- RFC 7591 §3.2.1: metadata as registered, nothing silently dropped ---


async def test_register_informational_metadata_is_kept_and_echoed(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    body = await registered(auth_client, **INFORMATIONAL)

    assert {k: body[k] for k in (*INFORMATIONAL, *PROVIDER_VALUES)} == {
        **INFORMATIONAL,
        **PROVIDER_VALUES,
    }
    row = await db.get(Client, body["client_id"])
    assert row is not None and row.registered_metadata == INFORMATIONAL
    read = await auth_client.get(
        management_path(body), headers=bearer(body["registration_access_token"])
    )
    assert read.status_code == 200, read.text
    assert read.json() == {
        k: v for k, v in body.items() if k not in ("client_secret", "registration_access_token")
    }


async def test_register_policy_and_terms_are_shown_on_the_consent_page(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    # OIDC Registration §2: the OP should show a registered policy_uri and tos_uri to the user.
    body = await registered(auth_client, **INFORMATIONAL)
    row = await db.get(Client, body["client_id"])
    assert row is not None

    _, page = await open_consent(
        auth_client, AuthorizationRequest(TestClient(row, body["client_secret"])), user
    )

    assert '<p class="small">How it uses your data: https://dynamic.example/privacy</p>' in (
        page.text
    )
    assert '<p class="small">Its terms of service: https://dynamic.example/terms</p>' in page.text


@pytest.mark.parametrize(
    "asked",
    [
        {"id_token_signed_response_alg": "RS256"},
        {"subject_type": "public"},
        {"require_auth_time": False},  # auth_time is in every ID token anyway
        {"require_auth_time": True},
        {"jwks_uri": None, "sector_identifier_uri": None},  # null is the same as absent
    ],
    ids=["rs256", "public-subject", "auth-time-not-required", "auth-time-required", "nulls"],
)
async def test_register_values_we_honour_are_accepted_and_echoed_as_registered(
    db: Database, auth_client: httpx.AsyncClient, asked: dict[str, Any]
) -> None:
    body = await registered(auth_client, **asked)

    assert {k: body[k] for k in PROVIDER_VALUES} == PROVIDER_VALUES
    assert "jwks_uri" not in body and "sector_identifier_uri" not in body
    row = await db.get(Client, body["client_id"])
    assert row is not None and row.registered_metadata == {}


ALG_CHOICES = "id_token_signed_response_alg must be one of RS256, PS256, ES256, EdDSA"
CANNOT_HONOUR = [
    ({"id_token_signed_response_alg": "none"}, ALG_CHOICES),
    ({"id_token_signed_response_alg": "HS256"}, ALG_CHOICES),
    ({"id_token_signed_response_alg": ["RS256"]}, ALG_CHOICES),
    ({"subject_type": "pairwise"}, "subject_type must be public"),
    ({"require_auth_time": "yes"}, "require_auth_time must be true or false"),
    (
        {"userinfo_signed_response_alg": "RS256"},
        "userinfo_signed_response_alg is not supported by this server",
    ),
    (
        {"id_token_encrypted_response_alg": "RSA-OAEP-256"},
        "id_token_encrypted_response_alg is not supported by this server",
    ),
    # Client keys are for private_key_jwt only (RFC 7523 section 2.2).
    (
        {"jwks_uri": "https://dynamic.example/jwks"},
        "jwks and jwks_uri are only for private_key_jwt clients",
    ),
    ({"jwks": {"keys": []}}, "jwks and jwks_uri are only for private_key_jwt clients"),
    (
        {"request_uris": ["https://dynamic.example/r"]},
        "request_uris is not supported by this server",
    ),
    (
        {"backchannel_logout_uri": "https://dynamic.example/bc"},
        "backchannel_logout_uri is not supported by this server",
    ),
    ({"default_max_age": 60}, "default_max_age is not supported by this server"),
    ({"software_statement": "eyJ.e30.x"}, "software_statement is not supported by this server"),
    ({"application_type": "desktop"}, "application_type must be web or native"),
    ({"contacts": "ops@dynamic.example"}, "contacts must be an array of at most 20"),
    ({"contacts": [""]}, "each contact must be 1-254 printable characters"),
    (
        {"tos_uri": "http://dynamic.example/terms"},
        "tos_uri: the URL must use https (http only for localhost)",
    ),
    ({"policy_uri": 7}, "policy_uri: the URL must be a string"),
    # urlsplit raises on these: a problem message, never a 500.
    ({"tos_uri": "https://[bad"}, "tos_uri: the URL must be an absolute https URL"),
    ({"policy_uri": "https://\u2100.com/"}, "policy_uri: the URL must be an absolute https URL"),
    ({"software_version": "x" * 201}, "software_version must be 1-200 characters"),
]


@pytest.mark.parametrize(("changes", "description"), CANNOT_HONOUR)
async def test_register_metadata_we_cannot_honour_returns_invalid_client_metadata(
    db: Database, auth_client: httpx.AsyncClient, changes: dict[str, Any], description: str
) -> None:
    response = await register(auth_client, **changes)

    assert_oauth_error(response, "invalid_client_metadata", description=description)
    assert response.headers["cache-control"] == "no-store"
    assert await db.count(Client) == 0
    assert await db.count(AuditEvent, AuditEvent.event == "client_registered") == 0


@pytest.mark.parametrize(("changes", "description"), CANNOT_HONOUR[:6])
async def test_registration_update_with_metadata_we_cannot_honour_changes_nothing(
    db: Database, auth_client: httpx.AsyncClient, changes: dict[str, Any], description: str
) -> None:
    body = await registered(auth_client, **INFORMATIONAL)
    before = await db.get(Client, body["client_id"])
    replacement = {**METADATA, "client_id": body["client_id"], "client_name": "New", **changes}

    response = await auth_client.put(
        management_path(body), json=replacement, headers=bearer(body["registration_access_token"])
    )

    assert_oauth_error(response, "invalid_client_metadata", description=description)
    after = await db.get(Client, body["client_id"])
    assert after == before and after is not None
    assert (after.name, after.registered_metadata) == ("Dynamic App", INFORMATIONAL)


async def test_registration_update_drops_informational_metadata_not_sent_again(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    body = await registered(auth_client, **INFORMATIONAL)
    replacement = {**METADATA, "client_id": body["client_id"], "software_version": "3.0.0"}

    response = await auth_client.put(
        management_path(body), json=replacement, headers=bearer(body["registration_access_token"])
    )

    assert response.status_code == 200, response.text
    assert response.json()["software_version"] == "3.0.0"
    assert not set(INFORMATIONAL) - {"software_version"} & set(response.json())
    row = await db.get(Client, body["client_id"])
    assert row is not None and row.registered_metadata == {"software_version": "3.0.0"}


async def test_register_client_credentials_only_client_needs_no_redirect_uri(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await register(
        auth_client,
        {"grant_types": ["client_credentials"], "response_types": [], "scope": "read:notes"},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["grant_types"], body["response_types"], body["redirect_uris"]) == (
        ["client_credentials"],
        [],
        [],
    )


@pytest.mark.parametrize(
    ("content", "content_type", "description"),
    [
        (
            b"client_name=x",
            "application/x-www-form-urlencoded",
            "the request body must be application/json",
        ),
        (b"{not json", "application/json", "the request body is not valid UTF-8 JSON"),
        (
            b'{"client_name": "\xff\xfe"}',
            "application/json",
            "the request body is not valid UTF-8 JSON",
        ),
        (b"[]", "application/json", "the request body must be a JSON object"),
        (b'"a string"', "application/json", "the request body must be a JSON object"),
        (b"null", "application/json", "the request body must be a JSON object"),
        (b"", "application/json", "the request body is not valid UTF-8 JSON"),
        (b"[" * 40000, "application/json", "the request body is not valid UTF-8 JSON"),
        (
            b"[" * 30000 + b"]" * 30000,
            "application/json",
            "the request body is not valid UTF-8 JSON",
        ),
        (
            b'{"a":' * 10000 + b"1" + b"}" * 10000,
            "application/json",
            "the request body is not valid UTF-8 JSON",
        ),
    ],
    ids=[
        "form",
        "not-json",
        "not-utf8",
        "array",
        "string",
        "null",
        "empty",
        "deep-unterminated",
        "deep-array",
        "deep-object",
    ],
)
async def test_register_malformed_body_returns_invalid_request_never_500(
    db: Database,
    auth_client: httpx.AsyncClient,
    content: bytes,
    content_type: str,
    description: str,
) -> None:
    response = await auth_client.post(
        "/oauth/register",
        content=content,
        headers={**initial_auth(), "Content-Type": content_type},
    )

    assert_oauth_error(response, "invalid_request", description=description)
    assert await db.count(Client) == 0


async def test_register_oversized_body_returns_413_invalid_request(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    body = {**METADATA, "client_name": "x" * 70_000}

    response = await auth_client.post("/oauth/register", json=body, headers=initial_auth())

    assert_oauth_error(
        response, "invalid_request", status=413, description="request body is too large"
    )
    assert await db.count(Client) == 0


# --- Managing a registration (RFC 7592) ---


async def test_registration_read_with_access_token_returns_the_metadata(
    auth_client: httpx.AsyncClient,
) -> None:
    body = await registered(auth_client)

    response = await auth_client.get(
        management_path(body), headers=bearer(body["registration_access_token"])
    )

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    expected = {
        k: v for k, v in body.items() if k not in ("client_secret", "registration_access_token")
    }
    assert response.json() == expected


async def test_registration_read_wrong_token_and_unknown_client_look_the_same(
    auth_client: httpx.AsyncClient,
) -> None:
    mine = await registered(auth_client)
    other = await registered(auth_client, client_name="Other")
    path = management_path(mine)

    responses = [
        await auth_client.get(path, headers=bearer("wrong-token")),
        await auth_client.get(path, headers=bearer(other["registration_access_token"])),
        await auth_client.get(path, headers=bearer(INITIAL_TOKEN)),
        await auth_client.get(path, headers=bearer(mine["client_secret"])),
        await auth_client.get(
            "/oauth/register/no-such-client", headers=bearer(mine["registration_access_token"])
        ),
        await auth_client.get("/oauth/register/" + "x" * 200, headers=bearer("wrong-token")),
    ]

    for response in responses:
        assert_bearer_refused(response, BAD_RAT)
    assert len({(r.text, r.headers["www-authenticate"]) for r in responses}) == 1


async def test_registration_read_without_token_returns_401_challenge(
    auth_client: httpx.AsyncClient,
) -> None:
    body = await registered(auth_client)

    response = await auth_client.get(management_path(body))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer realm="{REALM}"'


async def test_registration_update_replaces_the_metadata(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    body = await registered(auth_client)
    rat = body["registration_access_token"]
    replacement = {
        "client_id": body["client_id"],
        "client_name": "Renamed App",
        "redirect_uris": ["https://dynamic.example/new", "http://127.0.0.1:9000/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_post",
    }

    response = await auth_client.put(management_path(body), json=replacement, headers=bearer(rat))

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    updated = response.json()
    # RFC 7592 §2.2: omitted fields take their defaults; nothing of the old values lingers.
    assert updated == {
        **PROVIDER_VALUES,
        "client_id": body["client_id"],
        "client_id_issued_at": body["client_id_issued_at"],
        "client_name": "Renamed App",
        "redirect_uris": ["https://dynamic.example/new", "http://127.0.0.1:9000/cb"],
        "post_logout_redirect_uris": [],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post",
        "scope": "openid",
        "client_secret_expires_at": 0,
        "registration_client_uri": body["registration_client_uri"],
    }
    row = await db.get(Client, body["client_id"])
    assert row is not None
    assert (row.name, row.redirect_uris, row.logo_uri, row.homepage_uri) == (
        "Renamed App",
        replacement["redirect_uris"],
        None,
        None,
    )
    # The secret and the registration access token still work.
    assert row.client_secret_hash == sha256_hex(body["client_secret"])
    read = await auth_client.get(management_path(body), headers=bearer(rat))
    assert read.json() == updated
    (event,) = await db.all(AuditEvent, AuditEvent.event == "client_updated")
    assert event.client_id == body["client_id"]


@pytest.mark.parametrize(
    ("changes", "error", "description"),
    [
        (
            {"client_id": "someone-else"},
            "invalid_client_metadata",
            "client_id must be the registered client's id",
        ),
        (
            {"client_id": None},
            "invalid_client_metadata",
            "client_id must be the registered client's id",
        ),
        (
            {"token_endpoint_auth_method": "none"},
            "invalid_client_metadata",
            "token_endpoint_auth_method cannot change between public and confidential",
        ),
        (
            {"client_secret": "not-the-secret"},
            "invalid_client_metadata",
            "client_secret does not match the registered secret",
        ),
        ({"redirect_uris": ["http://evil.example/cb"]}, "invalid_redirect_uri", None),
        ({"scope": "openid admin"}, "invalid_client_metadata", "unknown scope: admin"),
        # Clients are authenticated by their registered method: an unknown one would lock the
        # client out, and one longer than the column would not fit (RFC 7591 §2).
        (
            {"token_endpoint_auth_method": "tls_client_auth"},
            "invalid_client_metadata",
            AUTH_METHOD_RULE,
        ),
        ({"token_endpoint_auth_method": "x" * 40}, "invalid_client_metadata", AUTH_METHOD_RULE),
    ],
    ids=[
        "other-client-id",
        "no-client-id",
        "to-public",
        "wrong-secret",
        "bad-redirect",
        "unknown-scope",
        "unknown-auth-method",
        "overlong-auth-method",
    ],
)
async def test_registration_update_refused_changes_nothing(
    db: Database,
    auth_client: httpx.AsyncClient,
    changes: dict[str, Any],
    error: str,
    description: str | None,
) -> None:
    body = await registered(auth_client)
    before = await db.get(Client, body["client_id"])
    replacement = {**METADATA, "client_id": body["client_id"], **changes}
    replacement = {k: v for k, v in replacement.items() if v is not None}

    response = await auth_client.put(
        management_path(body), json=replacement, headers=bearer(body["registration_access_token"])
    )

    assert_oauth_error(response, error, description=description)
    assert await db.get(Client, body["client_id"]) == before


async def test_registration_update_public_client_cannot_become_confidential(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    body = await registered(auth_client, token_endpoint_auth_method="none")
    replacement = {**METADATA, "client_id": body["client_id"]}

    response = await auth_client.put(
        management_path(body), json=replacement, headers=bearer(body["registration_access_token"])
    )

    assert_oauth_error(
        response,
        "invalid_client_metadata",
        description="token_endpoint_auth_method cannot change between public and confidential",
    )
    row = await db.get(Client, body["client_id"])
    assert row is not None and row.is_public is True and row.client_secret_hash is None


async def test_registration_update_with_wrong_token_is_401(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    body = await registered(auth_client)
    before = await db.get(Client, body["client_id"])

    response = await auth_client.put(
        management_path(body),
        json={**METADATA, "client_id": body["client_id"], "client_name": "Hijacked"},
        headers=bearer("wrong"),
    )

    assert_bearer_refused(response, BAD_RAT)
    assert await db.get(Client, body["client_id"]) == before


async def test_registration_delete_removes_the_client_and_its_token(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    body = await registered(auth_client)
    rat = body["registration_access_token"]

    response = await auth_client.delete(management_path(body), headers=bearer(rat))

    assert response.status_code == 204
    assert response.content == b""
    assert await db.get(Client, body["client_id"]) is None
    again = await auth_client.get(management_path(body), headers=bearer(rat))
    assert_bearer_refused(again, BAD_RAT)
    (event,) = await db.all(RevocationEvent)
    assert (event.kind, event.value) == ("client", body["client_id"])
    (audit,) = await db.all(AuditEvent, AuditEvent.event == "client_deleted")
    assert (audit.client_id, audit.details) == (body["client_id"], {"via": "dynamic_registration"})
    token = await auth_client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(body["client_id"], body["client_secret"]),
    )
    assert_oauth_error(token, "invalid_client", status=401)


async def test_registration_delete_with_wrong_token_keeps_the_client(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    body = await registered(auth_client)

    response = await auth_client.delete(management_path(body), headers=bearer("wrong"))

    assert_bearer_refused(response, BAD_RAT)
    assert await db.get(Client, body["client_id"]) is not None


# --- Open registration and throttling ---


@pytest.mark.parametrize("setting_overrides", [{"registration_open": True}])
async def test_register_open_lets_anyone_register_without_a_token(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await auth_client.post("/oauth/register", json=METADATA)

    assert response.status_code == 201, response.text
    assert await db.count(Client) == 1
    discovery = (await auth_client.get("/.well-known/openid-configuration")).json()
    assert discovery["registration_endpoint"] == f"{ISSUER}/oauth/register"


@pytest.mark.parametrize("setting_overrides", [{**WITH_TOKEN, "registration_limit_per_ip": 2}])
async def test_register_beyond_limit_per_ip_returns_429_with_retry_after(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient
) -> None:
    assert (await register(auth_client)).status_code == 201
    # Refused metadata counts too: the limit is on requests, not on successes.
    assert (await register(auth_client, scope="admin")).status_code == 400

    response = await register(auth_client)

    assert_oauth_error(
        response,
        "temporarily_unavailable",
        status=429,
        description="too many attempts, try again in 3600 s",
    )
    assert response.headers["retry-after"] == "3600"
    assert await db.count(Client) == 1
    async with browser(auth_app, ip="10.0.0.2") as elsewhere:
        assert (await register(elsewhere)).status_code == 201
