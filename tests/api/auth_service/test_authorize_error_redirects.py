"""/oauth/authorize errors once the client and redirect URI are trusted: a 302 back to the client
with error, error_description, state byte for byte (RFC 6749 §4.1.2.1) and iss (RFC 9207)."""

from __future__ import annotations

from urllib.parse import quote_plus

import httpx
import pytest

from tests.factories import REDIRECT_URI, TestClient, make_client
from tests.support.authorize import (
    RefusedRequest,
    assert_nothing_stored,
    assert_refused_with_error_redirect,
    refused,
)
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest
from tests.support.pages import AWKWARD_STATE, assert_client_error

MALFORMED_SCOPE = "scope must be space-separated scope tokens"
UNSUPPORTED_RESPONSE_TYPES = ["token", "id_token", "code id_token", "code token", "id_token token"]

REFUSED_REQUESTS = [
    # RFC 9700 §2.1.2: nothing that puts a token in the URL (implicit, hybrid).
    *(
        refused(
            f"response_type_{response_type.replace(' ', '_')}_is_unsupported",
            "unsupported_response_type",
            "only response_type=code is supported",
            extra={"response_type": response_type},
        )
        for response_type in [*UNSUPPORTED_RESPONSE_TYPES, "none"]
    ),
    refused(
        "missing_response_type_redirects_with_invalid_request",
        "invalid_request",
        "response_type is missing",
        extra={"response_type": None},
    ),
    *(
        refused(f"{name}_redirects_with_invalid_scope", "invalid_scope", description, extra=extra)
        for name, extra, description in [
            ("unknown_scope", {"scope": "openid no-such-scope"}, "unknown scope: no-such-scope"),
            ("unknown_scope_alone", {"scope": "admin"}, "unknown scope: admin"),
            ("missing_scope", {"scope": None}, "scope is required"),
            ("empty_scope", {"scope": ""}, "scope is required"),
            ("double_space_in_scope", {"scope": "openid  profile"}, MALFORMED_SCOPE),
            ("quoted_scope_token", {"scope": 'openid "profile"'}, MALFORMED_SCOPE),
        ]
    ),
    refused(
        "scope_not_allowed_for_client_redirects_with_invalid_scope",
        "invalid_scope",
        "scope not allowed for this client: write:notes",
        client={"scope": "openid profile"},
        scope="openid profile write:notes",
    ),
    refused(
        "client_without_authorization_code_grant_redirects_with_unauthorized_client",
        "unauthorized_client",
        "this client may not use the authorization code flow",
        client={"grant_types": ["client_credentials"]},
    ),
    # OIDC Core §3.1.2.1: prompt=none never shows a page, so without a session it is an error.
    refused(
        "prompt_none_without_session_redirects_with_login_required",
        "login_required",
        "the user is not logged in",
        extra={"prompt": "none"},
    ),
    refused(
        "too_long_state_redirects_with_invalid_request",
        "invalid_request",
        "state is too long",
        state="s" * 2049,
    ),
    *(
        refused(
            f"{name}_redirects_with_invalid_request", "invalid_request", description, extra=extra
        )
        for name, extra, description in [
            ("unsupported_prompt", {"prompt": "bogus"}, "prompt has an unsupported value"),
            (
                "prompt_none_with_login",
                {"prompt": "none login"},
                "prompt=none cannot be combined with other values",
            ),
            ("negative_max_age", {"max_age": "-1"}, "max_age must be a non-negative integer"),
            ("non_numeric_max_age", {"max_age": "ten"}, "max_age must be a non-negative integer"),
            (
                "fragment_response_mode",
                {"response_mode": "fragment"},
                "only response_mode=query is supported",
            ),
            ("too_long_nonce", {"nonce": "n" * 513}, "nonce is too long"),
        ]
    ),
]


@pytest.mark.parametrize("case", REFUSED_REQUESTS)
async def test_authorize_refused(
    db: Database, auth_client: httpx.AsyncClient, case: RefusedRequest
) -> None:
    await assert_refused_with_error_redirect(db, auth_client, case)


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
