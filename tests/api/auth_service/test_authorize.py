"""GET/POST /oauth/authorize: RFC 6749 §3.1, §4.1.1-4.1.2.1, RFC 7636, RFC 9207, RFC 9700, OIDC Core §3.1.2."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, quote_plus, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from shared.models import (
    AuditEvent,
    AuthorizationCode,
    Consent,
    Grant,
    PendingAuthorization,
    UserSession,
)
from tests.factories import REDIRECT_URI, TestClient, TestUser, make_client
from tests.support.assertions import assert_error_page
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, authorize, exchange_code, login
from tests.support.pages import (
    assert_client_code,
    assert_client_error,
    assert_page_security_headers,
    assert_step_redirect,
    probing_client,
    remember_consent,
    sha256_hex,
    sign_in,
    start_authorization,
)

OTHER_REDIRECT_URI = "https://client.example/other"
# Spaces, '&', '=', '+', '%', '#' and non-ASCII: echoed byte for byte or not at all.
AWKWARD_STATE = "a b&c=d+e%20f#g/é✓𝄞"


async def pending_count(db: Database) -> int:
    return await db.count(PendingAuthorization)


async def assert_nothing_stored(db: Database) -> None:
    """A refused request leaves no trace: no pending request, grant, code, consent or audit row."""
    for model in (PendingAuthorization, Grant, AuthorizationCode, Consent, AuditEvent):
        assert await db.count(model) == 0, model.__name__


def page_error_text(description: str) -> str:
    return f'<p class="error" role="alert">{description}</p>'


# --- Errors before the client and redirect URI are trusted: our own page, never a redirect ---
# RFC 6749 §3.1.2.4 and §4.1.2.1; RFC 9700 §4.1.


async def test_authorize_missing_client_id_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client, extra={"client_id": None})

    response = await auth_client.get(request.url())

    assert_error_page(response, page_error_text("client_id is missing"))
    assert "<code>invalid_request</code>" in response.text
    await assert_nothing_stored(db)


async def test_authorize_empty_client_id_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
    request = AuthorizationRequest(confidential_client, extra={"client_id": ""})

    response = await auth_client.get(request.url())

    assert_error_page(response, page_error_text("client_id is missing"))
    await assert_nothing_stored(db)


@pytest.mark.parametrize("client_id", ["no-such-client", "x" * 65, "'; DROP TABLE client; --", "é"])
async def test_authorize_unknown_client_id_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, client_id: str
) -> None:
    request = AuthorizationRequest(confidential_client, extra={"client_id": client_id})

    response = await auth_client.get(request.url())

    assert_error_page(response, page_error_text("the client is unknown"))
    assert "<code>invalid_request</code>" in response.text
    await assert_nothing_stored(db)


async def test_authorize_duplicate_client_id_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # Even two identical values: RFC 6749 §3.1 says parameters must not be included more than once.
    request = AuthorizationRequest(confidential_client)
    url = request.url() + "&client_id=" + confidential_client.client_id

    response = await auth_client.get(url)

    assert_error_page(response, page_error_text("client_id was sent more than once"))
    await assert_nothing_stored(db)


async def test_authorize_duplicate_client_id_naming_another_client_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    other = await make_client(db, redirect_uris=["https://evil.example/cb"])
    request = AuthorizationRequest(confidential_client)
    url = request.url() + "&client_id=" + other.client_id

    response = await auth_client.get(url)

    assert_error_page(response, page_error_text("client_id was sent more than once"))
    await assert_nothing_stored(db)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        REDIRECT_URI + "/",
        REDIRECT_URI + "?x=1",
        REDIRECT_URI + "#frag",
        "https://CLIENT.example/callback",
        "http://client.example/callback",
        "https://client.example/callback/../callback",
        "https://client.example:443/callback",
        "https://client.example/Callback",
        "https://client.example/call",
        "https://client.example.evil.example/callback",
        REDIRECT_URI + "%20",
    ],
)
async def test_authorize_redirect_uri_mismatch_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    redirect_uri: str,
) -> None:
    # RFC 9700 §4.1.3: exact string comparison, no normalisation, no prefix or pattern matching.
    request = AuthorizationRequest(confidential_client, extra={"redirect_uri": redirect_uri})

    response = await auth_client.get(request.url())

    assert_error_page(
        response,
        page_error_text("redirect_uri does not match any URI registered for this client"),
    )
    assert "<code>invalid_request</code>" in response.text
    await assert_nothing_stored(db)


async def test_authorize_redirect_uri_of_another_client_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    other = await make_client(db, redirect_uris=["https://other.example/cb"])
    request = AuthorizationRequest(confidential_client, extra={"redirect_uri": other.redirect_uri})

    response = await auth_client.get(request.url())

    assert_error_page(
        response,
        page_error_text("redirect_uri does not match any URI registered for this client"),
    )


async def test_authorize_duplicate_redirect_uri_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    client = await make_client(db, redirect_uris=[REDIRECT_URI, OTHER_REDIRECT_URI])
    request = AuthorizationRequest(client)
    url = request.url() + "&" + "redirect_uri=" + quote_plus(OTHER_REDIRECT_URI)

    response = await auth_client.get(url)

    assert_error_page(response, page_error_text("redirect_uri was sent more than once"))
    await assert_nothing_stored(db)


async def test_authorize_duplicate_identical_redirect_uri_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client)
    url = request.url() + "&redirect_uri=" + quote_plus(REDIRECT_URI)

    response = await auth_client.get(url)

    assert_error_page(response, page_error_text("redirect_uri was sent more than once"))
    await assert_nothing_stored(db)


async def test_authorize_missing_redirect_uri_with_several_registered_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    client = await make_client(db, redirect_uris=[REDIRECT_URI, OTHER_REDIRECT_URI])
    request = AuthorizationRequest(client, scope="profile", extra={"redirect_uri": None})

    response = await auth_client.get(request.url())

    assert_error_page(
        response, page_error_text("redirect_uri is required: the client registered several")
    )
    await assert_nothing_stored(db)


@pytest.mark.parametrize(
    "other_error",
    [
        {"response_type": "token"},
        {"response_type": None},
        {"scope": "no-such-scope"},
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge_method": "plain"},
        {"request": "eyJhbGciOiJub25lIn0.e30."},
        {"prompt": "none"},
    ],
)
async def test_authorize_bad_redirect_uri_with_another_error_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    other_error: dict[str, str | None],
) -> None:
    # The redirect URI is checked first: no error, whatever it is, goes to an unverified URI.
    request = AuthorizationRequest(
        confidential_client, extra={"redirect_uri": "https://evil.example/cb", **other_error}
    )

    response = await auth_client.get(request.url())

    assert_error_page(
        response,
        page_error_text("redirect_uri does not match any URI registered for this client"),
    )
    await assert_nothing_stored(db)


@pytest.mark.parametrize(
    "other_error",
    [
        {"response_type": "token"},
        {"scope": "no-such-scope"},
        {"code_challenge": None, "code_challenge_method": None},
    ],
)
async def test_authorize_unknown_client_with_another_error_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    other_error: dict[str, str | None],
) -> None:
    request = AuthorizationRequest(
        confidential_client, extra={"client_id": "no-such-client", **other_error}
    )

    response = await auth_client.get(request.url())

    assert_error_page(response, page_error_text("the client is unknown"))
    await assert_nothing_stored(db)


async def test_authorize_duplicate_redirect_uri_with_duplicate_scope_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client)
    url = request.url() + "&scope=email&redirect_uri=" + quote_plus(REDIRECT_URI)

    response = await auth_client.get(url)

    assert_error_page(response, page_error_text("redirect_uri was sent more than once"))
    await assert_nothing_stored(db)


async def test_authorize_error_page_does_not_echo_the_client_id(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.get(
        "/oauth/authorize", params={"client_id": "<script>alert(1)</script>"}
    )

    assert_error_page(response, page_error_text("the client is unknown"))
    assert "<script>" not in response.text


async def test_authorize_error_page_has_security_headers(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.get("/oauth/authorize", params={"client_id": "no-such-client"})

    assert_error_page(response, page_error_text("the client is unknown"))
    assert_page_security_headers(response)
    assert response.headers["cache-control"] == "no-store"


# --- Errors after the client and redirect URI are verified: 302 back to the client ---
# RFC 6749 §4.1.2.1: error, error_description, state byte for byte; RFC 9207: iss.


@pytest.mark.parametrize(
    "response_type", ["token", "id_token", "code id_token", "code token", "id_token token", "none"]
)
async def test_authorize_unsupported_response_type_redirects_with_error(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    response_type: str,
) -> None:
    # RFC 9700 §2.1.2: nothing that puts a token in the URL (implicit, hybrid).
    request = AuthorizationRequest(confidential_client, extra={"response_type": response_type})

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "unsupported_response_type",
        "only response_type=code is supported",
        state=request.state,
    )
    await assert_nothing_stored(db)


async def test_authorize_missing_response_type_redirects_with_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client, extra={"response_type": None})

    response = await auth_client.get(request.url())

    assert_client_error(
        response, REDIRECT_URI, "invalid_request", "response_type is missing", state=request.state
    )
    await assert_nothing_stored(db)


@pytest.mark.parametrize(
    ("scope", "description"),
    [
        ("openid no-such-scope", "unknown scope: no-such-scope"),
        ("admin", "unknown scope: admin"),
        (None, "scope is required"),
        ("", "scope is required"),
        ("openid  profile", "scope must be space-separated scope tokens"),
        ('openid "profile"', "scope must be space-separated scope tokens"),
    ],
)
async def test_authorize_invalid_scope_redirects_with_invalid_scope(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    scope: str | None,
    description: str,
) -> None:
    request = AuthorizationRequest(confidential_client, extra={"scope": scope})

    response = await auth_client.get(request.url())

    assert_client_error(response, REDIRECT_URI, "invalid_scope", description, state=request.state)
    await assert_nothing_stored(db)


async def test_authorize_scope_not_allowed_for_client_redirects_with_invalid_scope(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    client = await make_client(db, scope="openid profile")
    request = AuthorizationRequest(client, scope="openid profile write:notes")

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_scope",
        "scope not allowed for this client: write:notes",
        state=request.state,
    )
    await assert_nothing_stored(db)


@pytest.mark.parametrize(
    "name",
    [
        "response_type",
        "scope",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "max_age",
        "login_hint",
        "unknown_extension",
    ],
)
async def test_authorize_duplicate_parameter_redirects_with_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, name: str
) -> None:
    # RFC 6749 §3.1: request parameters must not be included more than once.
    request = AuthorizationRequest(confidential_client)
    params = request.params()
    value = params.get(name, "1")
    url = request.url() + f"&{name}={quote_plus(value)}"
    if name not in params:
        url += f"&{name}={quote_plus(value)}"

    response = await auth_client.get(url)

    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_request",
        f"parameter {name} was sent more than once",
        state=request.state,
    )
    await assert_nothing_stored(db)


async def test_authorize_duplicate_state_redirects_with_invalid_request_and_no_state(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # Two states cannot both be echoed byte for byte; the client must not get either.
    request = AuthorizationRequest(confidential_client)
    url = request.url() + "&state=other"

    response = await auth_client.get(url)

    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_request",
        "parameter state was sent more than once",
        state=None,
    )
    await assert_nothing_stored(db)


async def test_authorize_error_redirect_echoes_awkward_state_byte_for_byte(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(
        confidential_client, state=AWKWARD_STATE, extra={"response_type": "token"}
    )

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "unsupported_response_type",
        "only response_type=code is supported",
        state=AWKWARD_STATE,
    )
    # The raw query holds the UTF-8 percent-encoding of the exact bytes, nothing normalised.
    assert "state=" + quote_plus(AWKWARD_STATE) in response.headers["location"]


@pytest.mark.parametrize("state", [None, ""], ids=["omitted", "empty"])
async def test_authorize_error_redirect_without_state_has_no_state(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, state: str | None
) -> None:
    # RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
    request = AuthorizationRequest(
        confidential_client, extra={"state": state, "response_type": "token"}
    )

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "unsupported_response_type",
        "only response_type=code is supported",
        state=None,
    )


async def test_authorize_too_long_state_redirects_with_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client, state="s" * 2049)

    response = await auth_client.get(request.url())

    assert_client_error(
        response, REDIRECT_URI, "invalid_request", "state is too long", state="s" * 2049
    )
    await assert_nothing_stored(db)


@pytest.mark.parametrize("is_public", [True, False], ids=["public", "confidential"])
async def test_authorize_missing_code_challenge_redirects_with_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, is_public: bool
) -> None:
    # RFC 9700 §2.1.1: PKCE for public clients, and for confidential clients by default.
    client = await make_client(db, is_public=is_public)
    authz = AuthorizationRequest(
        client, extra={"code_challenge": None, "code_challenge_method": None}
    )

    response = await auth_client.get(authz.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_request",
        "code_challenge is required (PKCE, RFC 7636)",
        state=authz.state,
    )
    await assert_nothing_stored(db)


async def test_authorize_public_client_registered_without_pkce_still_requires_it(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    client = await make_client(db, is_public=True, require_pkce=False)
    request = AuthorizationRequest(
        client, extra={"code_challenge": None, "code_challenge_method": None}
    )

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_request",
        "code_challenge is required (PKCE, RFC 7636)",
        state=request.state,
    )
    await assert_nothing_stored(db)


async def test_authorize_plain_code_challenge_method_redirects_with_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, public_client: TestClient
) -> None:
    # RFC 9700 §2.1.1: `plain` gives no protection when the request leaks; only S256.
    request = AuthorizationRequest(public_client, extra={"code_challenge_method": "plain"})

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_request",
        "code_challenge_method must be S256",
        state=request.state,
    )
    await assert_nothing_stored(db)


@pytest.mark.parametrize("method", [None, "s256", "S512"])
async def test_authorize_missing_or_unknown_code_challenge_method_redirects_with_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, public_client: TestClient, method: str | None
) -> None:
    # RFC 7636 §4.3 defaults a missing method to `plain`, which we refuse.
    request = AuthorizationRequest(public_client, extra={"code_challenge_method": method})

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_request",
        "code_challenge_method must be S256",
        state=request.state,
    )
    await assert_nothing_stored(db)


async def test_authorize_code_challenge_method_without_challenge_redirects_with_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, public_client: TestClient
) -> None:
    request = AuthorizationRequest(public_client, extra={"code_challenge": None})

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_request",
        "code_challenge_method was sent without code_challenge",
        state=request.state,
    )


@pytest.mark.parametrize(
    "challenge",
    [
        "a" * 42,
        "a" * 44,
        "a" * 128,
        "a" * 42 + "=",
        "a" * 42 + "+",
        "a" * 42 + "/",
        "a" * 42 + ".",
        "a" * 42 + " ",
    ],
)
async def test_authorize_malformed_code_challenge_redirects_with_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, public_client: TestClient, challenge: str
) -> None:
    # RFC 7636 §4.2: an S256 challenge is exactly 43 base64url characters.
    request = AuthorizationRequest(public_client, extra={"code_challenge": challenge})

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_request",
        "code_challenge must be 43 base64url characters (RFC 7636 §4.2)",
        state=request.state,
    )
    await assert_nothing_stored(db)


async def test_authorize_request_object_redirects_with_request_not_supported(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # OIDC Core §6.1 / §3.1.2.6: a provider that does not support request objects says so.
    request = AuthorizationRequest(
        confidential_client, extra={"request": "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9."}
    )

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "request_not_supported",
        "request objects are not supported",
        state=request.state,
    )
    await assert_nothing_stored(db)


async def test_authorize_request_uri_redirects_with_request_uri_not_supported(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(
        confidential_client, extra={"request_uri": "https://client.example/request.jwt"}
    )

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "request_uri_not_supported",
        "request_uri is not supported",
        state=request.state,
    )
    await assert_nothing_stored(db)


async def test_authorize_client_without_authorization_code_grant_redirects_with_unauthorized_client(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    client = await make_client(db, grant_types=["client_credentials"])
    request = AuthorizationRequest(client)

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "unauthorized_client",
        "this client may not use the authorization code flow",
        state=request.state,
    )
    await assert_nothing_stored(db)


async def test_authorize_openid_without_redirect_uri_redirects_with_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # OIDC Core §3.1.2.1: redirect_uri is REQUIRED for OpenID Connect requests.
    request = AuthorizationRequest(
        confidential_client, scope="openid profile", extra={"redirect_uri": None}
    )

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_request",
        "redirect_uri is required for OpenID Connect requests",
        state=request.state,
    )
    await assert_nothing_stored(db)


@pytest.mark.parametrize(
    ("extra", "description"),
    [
        ({"prompt": "bogus"}, "prompt has an unsupported value"),
        ({"prompt": "none login"}, "prompt=none cannot be combined with other values"),
        ({"max_age": "-1"}, "max_age must be a non-negative integer"),
        ({"max_age": "ten"}, "max_age must be a non-negative integer"),
        ({"response_mode": "fragment"}, "only response_mode=query is supported"),
        ({"claims": '{"userinfo":{}}'}, "the claims parameter is not supported"),
        ({"nonce": "n" * 513}, "nonce is too long"),
    ],
)
async def test_authorize_malformed_optional_parameter_redirects_with_invalid_request(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    extra: dict[str, str],
    description: str,
) -> None:
    request = AuthorizationRequest(confidential_client, extra=extra)

    response = await auth_client.get(request.url())

    assert_client_error(response, REDIRECT_URI, "invalid_request", description, state=request.state)
    await assert_nothing_stored(db)


async def test_authorize_error_redirect_keeps_the_redirect_uri_query(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    # RFC 6749 §3.1.2: the registered query component must be retained when adding parameters.
    redirect_uri = "https://client.example/cb?tenant=acme&lang=en"
    client = await make_client(db, redirect_uris=[redirect_uri])
    request = AuthorizationRequest(client, extra={"response_type": "token"})

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        redirect_uri,
        "unsupported_response_type",
        "only response_type=code is supported",
        state=request.state,
    )


# --- Valid requests ---


async def test_authorize_without_session_redirects_to_login_and_stores_request(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    settings: AuthSettings,
) -> None:
    request = AuthorizationRequest(
        confidential_client, scope="openid profile email", extra={"login_hint": "ada"}
    )

    response = await auth_client.get(request.url())

    request_id = assert_step_redirect(response, "/login")
    assert response.headers["location"] == f"/login?request_id={request_id}"
    assert len(request_id) >= 43  # 256 bits, unguessable
    pending = await db.get(PendingAuthorization, request_id)
    assert pending is not None
    assert pending.client_id == confidential_client.client_id
    assert pending.params == {
        "redirect_uri": REDIRECT_URI,
        "redirect_uri_given": True,
        "scope": "openid profile email",
        "state": request.state,
        "nonce": request.nonce,
        "code_challenge": request.challenge,
        "code_challenge_method": "S256",
        "prompt": [],
        "max_age": None,
        "login_hint": "ada",
        "client_vetted": True,
    }
    assert pending.min_auth_time is None
    assert pending.expires_at - pending.created_at == timedelta(
        seconds=settings.pending_request_ttl
    )
    assert await pending_count(db) == 1


async def test_authorize_post_form_without_session_redirects_to_login_and_stores_request(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # OIDC Core §3.1.2.1: POST with a form body works like GET.
    request = AuthorizationRequest(confidential_client)

    response = await auth_client.post("/oauth/authorize", data=request.params())

    request_id = assert_step_redirect(response, "/login")
    pending = await db.get(PendingAuthorization, request_id)
    assert pending is not None
    assert pending.params["state"] == request.state
    assert pending.params["code_challenge"] == request.challenge


async def test_authorize_post_form_with_error_redirects_with_error(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client, extra={"response_type": "token"})

    response = await auth_client.post("/oauth/authorize", data=request.params())

    assert_client_error(
        response,
        REDIRECT_URI,
        "unsupported_response_type",
        "only response_type=code is supported",
        state=request.state,
    )
    await assert_nothing_stored(db)


async def test_authorize_post_form_duplicate_parameter_redirects_with_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client)
    body = httpx.QueryParams(request.params()).add("scope", "email")

    response = await auth_client.post(
        "/oauth/authorize",
        content=str(body),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_request",
        "parameter scope was sent more than once",
        state=request.state,
    )
    await assert_nothing_stored(db)


async def test_authorize_post_form_unknown_client_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client, extra={"client_id": "no-such-client"})

    response = await auth_client.post("/oauth/authorize", data=request.params())

    assert_error_page(response, page_error_text("the client is unknown"))
    await assert_nothing_stored(db)


async def test_authorize_post_json_body_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # The body is not a form, so the client and redirect URI are not known: no redirect.
    request = AuthorizationRequest(confidential_client)

    response = await auth_client.post("/oauth/authorize", json=request.params())

    assert_error_page(
        response, page_error_text("the request body must be application/x-www-form-urlencoded")
    )
    await assert_nothing_stored(db)


async def test_authorize_omitted_redirect_uri_with_one_registered_uses_it(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # RFC 6749 §3.1.2.3: with a single registered URI the parameter may be omitted (not OIDC).
    request = AuthorizationRequest(
        confidential_client, scope="profile", extra={"redirect_uri": None}
    )

    response = await auth_client.get(request.url())

    request_id = assert_step_redirect(response, "/login")
    pending = await db.get(PendingAuthorization, request_id)
    assert pending is not None
    assert pending.params["redirect_uri"] == REDIRECT_URI
    assert pending.params["redirect_uri_given"] is False


async def test_authorize_omitted_redirect_uri_with_one_registered_issues_code_there(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "profile")
    request = AuthorizationRequest(
        confidential_client, scope="profile", extra={"redirect_uri": None}
    )

    response = await auth_client.get(request.url())

    code = assert_client_code(response, REDIRECT_URI, state=request.state)
    rows = await db.all(AuthorizationCode)
    assert [row.code_hash for row in rows] == [sha256_hex(code)]
    # RFC 6749 §4.1.3: redirect_uri was not in the request, so none is required at the token.
    assert rows[0].redirect_uri is None


async def test_authorize_redirect_uri_with_query_is_kept_on_success(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    redirect_uri = "https://client.example/cb?tenant=acme"
    client = await make_client(db, redirect_uris=[redirect_uri])
    await sign_in(auth_client, user)
    await remember_consent(db, user, client, "openid profile")
    request = AuthorizationRequest(client)

    response = await auth_client.get(request.url())

    assert_client_code(response, redirect_uri, state=request.state)


async def test_authorize_legacy_confidential_client_without_pkce_is_accepted(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    # RFC 9700 §2.1.1 allows an operator to relax PKCE for a confidential client (nonce-based).
    client = await make_client(db, require_pkce=False)
    request = AuthorizationRequest(
        client, extra={"code_challenge": None, "code_challenge_method": None}
    )

    response = await auth_client.get(request.url())

    request_id = assert_step_redirect(response, "/login")
    pending = await db.get(PendingAuthorization, request_id)
    assert pending is not None
    assert pending.params["code_challenge"] is None
    assert pending.params["code_challenge_method"] is None


async def test_authorize_legacy_confidential_client_without_pkce_gets_redeemable_code(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    client = await make_client(db, require_pkce=False)
    request = AuthorizationRequest(
        client, extra={"code_challenge": None, "code_challenge_method": None}
    )

    response = await authorize(auth_client, request, user)

    code = assert_client_code(response, REDIRECT_URI, state=request.state)
    row = await db.get(AuthorizationCode, sha256_hex(code))
    assert row is not None
    assert (row.code_challenge, row.code_challenge_method) == (None, None)
    token = await exchange_code(auth_client, request, code, code_verifier=None)
    assert token.status_code == 200, token.text


async def test_authorize_legacy_confidential_client_with_plain_pkce_is_still_refused(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    client = await make_client(db, require_pkce=False)
    request = AuthorizationRequest(client, extra={"code_challenge_method": "plain"})

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_request",
        "code_challenge_method must be S256",
        state=request.state,
    )


async def test_authorize_with_session_without_consent_redirects_to_consent(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    request = AuthorizationRequest(confidential_client)

    response = await auth_client.get(request.url())

    request_id = assert_step_redirect(response, "/consent")
    assert await db.get(PendingAuthorization, request_id) is not None
    assert await db.count(AuthorizationCode) == 0


async def test_authorize_with_session_and_consent_redirects_with_code(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    request = AuthorizationRequest(confidential_client, state=AWKWARD_STATE)

    response = await auth_client.get(request.url())

    code = assert_client_code(response, REDIRECT_URI, state=AWKWARD_STATE)
    assert await pending_count(db) == 0
    rows = await db.all(AuthorizationCode)
    assert len(rows) == 1
    assert rows[0].client_id == confidential_client.client_id
    assert rows[0].user_id == user.id
    assert rows[0].redirect_uri == REDIRECT_URI
    assert rows[0].code_challenge == request.challenge
    assert rows[0].code_challenge_method == "S256"
    assert rows[0].nonce == request.nonce
    assert rows[0].scope == "openid profile"
    assert rows[0].code_hash == sha256_hex(code)


# --- prompt and max_age (OIDC Core §3.1.2.1, §3.1.2.6) ---


async def test_authorize_prompt_none_without_session_redirects_with_login_required(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client, extra={"prompt": "none"})

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "login_required",
        "the user is not logged in",
        state=request.state,
    )
    await assert_nothing_stored(db)


async def test_authorize_prompt_none_with_expired_session_redirects_with_login_required(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    await db.run(lambda repos: repos.sessions.delete_all_for_user(user.id))
    request = AuthorizationRequest(confidential_client, extra={"prompt": "none"})

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "login_required",
        "the user is not logged in",
        state=request.state,
    )


async def test_authorize_prompt_none_with_session_without_consent_redirects_with_consent_required(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    request = AuthorizationRequest(confidential_client, extra={"prompt": "none"})

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "consent_required",
        "the user has not consented to these scopes",
        state=request.state,
    )
    assert await pending_count(db) == 0
    assert await db.count(AuthorizationCode) == 0


async def test_authorize_prompt_none_with_narrower_consent_redirects_with_consent_required(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid")
    request = AuthorizationRequest(
        confidential_client, scope="openid email", extra={"prompt": "none"}
    )

    response = await auth_client.get(request.url())

    assert_client_error(
        response,
        REDIRECT_URI,
        "consent_required",
        "the user has not consented to these scopes",
        state=request.state,
    )


async def test_authorize_prompt_none_with_session_and_consent_redirects_with_code(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    request = AuthorizationRequest(confidential_client, extra={"prompt": "none"})

    response = await auth_client.get(request.url())

    assert_client_code(response, REDIRECT_URI, state=request.state)
    assert await pending_count(db) == 0
    assert await db.count(AuthorizationCode) == 1


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}])
async def test_authorize_prompt_login_or_max_age_zero_forces_login(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    extra: dict[str, str],
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    request = AuthorizationRequest(confidential_client, extra=extra)

    response = await auth_client.get(request.url())

    request_id = assert_step_redirect(response, "/login")
    assert await db.count(AuthorizationCode) == 0
    pending = await db.get(PendingAuthorization, request_id)
    assert pending is not None
    assert pending.min_auth_time is not None
    # The existing session is too old: going straight to /consent must send the user back.
    old_session_skip = await auth_client.get(f"/consent?request_id={request_id}")
    assert assert_step_redirect(old_session_skip, "/login") == request_id
    # Logging in again satisfies the request; consent exists, so the code comes at once.
    logged_in = await login(auth_client, user, request_id=request_id)
    assert assert_step_redirect(logged_in, "/consent") == request_id
    final = await auth_client.get(logged_in.headers["location"])
    assert_client_code(final, REDIRECT_URI, state=request.state)
    sessions = await db.all(UserSession)
    assert len(sessions) == 1
    assert sessions[0].auth_time >= pending.min_auth_time


async def test_authorize_max_age_with_recent_login_does_not_force_login(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    request = AuthorizationRequest(confidential_client, extra={"max_age": "3600"})

    response = await auth_client.get(request.url())

    assert_client_code(response, REDIRECT_URI, state=request.state)


async def test_authorize_max_age_older_than_login_forces_login(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    clock: TestClock,
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    clock.advance(120)
    request = AuthorizationRequest(confidential_client, extra={"max_age": "60"})

    response = await auth_client.get(request.url())

    assert_step_redirect(response, "/login")
    assert await db.count(AuthorizationCode) == 0


async def test_authorize_prompt_consent_forces_consent_screen_even_with_consent(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    request = AuthorizationRequest(confidential_client, extra={"prompt": "consent"})

    response = await auth_client.get(request.url())

    request_id = assert_step_redirect(response, "/consent")
    page = await auth_client.get(response.headers["location"])
    assert page.status_code == 200, page.text
    assert 'name="allow"' in page.text
    assert f'name="request_id" value="{request_id}"' in page.text
    assert await db.count(AuthorizationCode) == 0


# --- Security headers on the pages the flow shows ---


async def test_authorize_login_and_consent_pages_have_security_headers(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client)
    authorize_response = await auth_client.get(request.url())
    request_id = assert_step_redirect(authorize_response, "/login")
    login_page = await auth_client.get(authorize_response.headers["location"])
    logged_in = await login(auth_client, user, request_id=request_id)
    consent_page = await auth_client.get(logged_in.headers["location"])

    # The redirect's URL holds request parameters too: no Referer leaks from it either.
    assert_page_security_headers(authorize_response)
    for page in (login_page, consent_page):
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
        assert_page_security_headers(page)


async def test_authorize_pending_request_ids_are_distinct(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    first = await start_authorization(auth_client, AuthorizationRequest(confidential_client))
    second = await start_authorization(auth_client, AuthorizationRequest(confidential_client))

    assert first != second
    assert await pending_count(db) == 2


async def test_authorize_with_expired_session_redirects_to_login(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    settings: AuthSettings,
    clock: TestClock,
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    clock.advance(settings.session_ttl + 1)

    response = await auth_client.get(AuthorizationRequest(confidential_client).url())

    assert_step_redirect(response, "/login")
    assert await db.count(AuthorizationCode) == 0


async def test_authorize_code_is_committed_before_the_redirect_is_sent(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
) -> None:
    # Style §6: the session dependency commits before the response, so the client can redeem
    # the code the instant the redirect arrives.
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    request = AuthorizationRequest(confidential_client)
    rows_at_response_start: list[int] = []

    async def probe(status: int, headers: dict[str, str]) -> None:
        if status == 302:
            code = dict(parse_qsl(urlsplit(headers["location"]).query))["code"]
            where = AuthorizationCode.code_hash == sha256_hex(code)
            rows_at_response_start.append(await db.count(AuthorizationCode, where))

    async with probing_client(auth_app, probe, cookies=auth_client.cookies) as browser:
        response = await browser.get(request.url())

    code = assert_client_code(response, REDIRECT_URI, state=request.state)
    assert rows_at_response_start == [1]
    token = await exchange_code(auth_client, request, code)
    assert token.status_code == 200, token.text
