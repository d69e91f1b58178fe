"""/oauth/authorize errors before the client and redirect URI are trusted: our own page, never a
redirect (RFC 6749 §3.1.2.4, §4.1.2.1; RFC 9700 §4.1)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote_plus

import httpx
import pytest

from tests.factories import REDIRECT_URI, TestClient, make_client
from tests.support.assertions import assert_error_page
from tests.support.authorize import OTHER_REDIRECT_URI, assert_nothing_stored
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest
from tests.support.pages import assert_page_security_headers, page_error_text


@pytest.mark.parametrize("client_id", [None, ""], ids=["missing", "empty"])
async def test_authorize_missing_or_empty_client_id_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    client_id: str | None,
) -> None:
    # RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
    request = AuthorizationRequest(confidential_client, extra={"client_id": client_id})

    response = await auth_client.get(request.url())

    assert_error_page(response, page_error_text("client_id is missing"))
    assert "<code>invalid_request</code>" in response.text
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


@pytest.mark.parametrize(
    ("repeated", "description"),
    [
        pytest.param(
            lambda client: "&client_id=" + client.client_id,
            "client_id was sent more than once",
            id="duplicate_client_id",
        ),
        pytest.param(
            lambda client: "&redirect_uri=" + quote_plus(REDIRECT_URI),
            "redirect_uri was sent more than once",
            id="duplicate_identical_redirect_uri",
        ),
        pytest.param(
            lambda client: "&scope=email&redirect_uri=" + quote_plus(REDIRECT_URI),
            "redirect_uri was sent more than once",
            id="duplicate_redirect_uri_with_duplicate_scope",
        ),
    ],
)
async def test_authorize_repeated_identical_client_parameter_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    repeated: Callable[[TestClient], str],
    description: str,
) -> None:
    # Even two identical values: RFC 6749 §3.1 says parameters must not be included more than once.
    request = AuthorizationRequest(confidential_client)

    response = await auth_client.get(request.url() + repeated(confidential_client))

    assert_error_page(response, page_error_text(description))
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


OIDC_WITHOUT_REDIRECT_URI = (
    "redirect_uri is required for OpenID Connect requests (OpenID Connect Core section 3.1.2.1)"
)


@pytest.mark.parametrize(
    ("scope", "other_error"),
    [
        pytest.param("openid profile", {}, id="alone"),
        pytest.param("profile openid", {"response_type": "token"}, id="with_response_type_token"),
        pytest.param("openid", {"code_challenge": None}, id="with_missing_pkce"),
        pytest.param("openid no-such-scope", {}, id="with_unknown_scope"),
        pytest.param('openid bad"scope', {}, id="with_malformed_scope"),
    ],
)
async def test_authorize_openid_request_without_redirect_uri_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    scope: str,
    other_error: dict[str, str | None],
) -> None:
    # OIDC Core §3.1.2.1: redirect_uri is REQUIRED; RFC 6749 §4.1.2.1: a missing redirection URI
    # is never followed, not even to the client's only registered one, whatever else is wrong.
    assert confidential_client.client.redirect_uris == [REDIRECT_URI]
    request = AuthorizationRequest(
        confidential_client, scope=scope, extra={"redirect_uri": None, **other_error}
    )

    response = await auth_client.get(request.url())

    assert_error_page(response, page_error_text(OIDC_WITHOUT_REDIRECT_URI))
    assert "<code>invalid_request</code>" in response.text
    assert REDIRECT_URI not in response.text
    await assert_nothing_stored(db)


async def test_authorize_repeated_scope_without_redirect_uri_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # A repeated scope is dropped before it is read, so it may have held openid: never followed.
    request = AuthorizationRequest(
        confidential_client, scope="openid", extra={"redirect_uri": None}
    )

    response = await auth_client.get(request.url() + "&scope=openid")

    assert_error_page(response, page_error_text(OIDC_WITHOUT_REDIRECT_URI))
    assert REDIRECT_URI not in response.text
    await assert_nothing_stored(db)


async def test_authorize_plain_oauth_request_without_redirect_uri_uses_the_one_registered(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # RFC 6749 §3.1.2.3: without OpenID Connect, one registered URI may be left out.
    request = AuthorizationRequest(
        confidential_client, scope="profile", extra={"redirect_uri": None, "response_type": "token"}
    )

    response = await auth_client.get(request.url())

    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(
        REDIRECT_URI + "?error=unsupported_response_type"
    )


REDIRECT_URI_MISMATCH = "redirect_uri does not match any URI registered for this client"
OTHER_ERRORS: dict[str, dict[str, str | None]] = {
    "response_type_token": {"response_type": "token"},
    "missing_response_type": {"response_type": None},
    "unknown_scope": {"scope": "no-such-scope"},
    "missing_pkce": {"code_challenge": None, "code_challenge_method": None},
    "plain_pkce": {"code_challenge_method": "plain"},
    "prompt_none": {"prompt": "none"},
}
# A `request` object replaces the query (RFC 9101 §6.3), so a bad query redirect_uri beside one
# is not what is judged; its refusals, all on our page, are in test_request_objects.py.
BAD_REDIRECT_URI_OTHER_ERRORS = list(OTHER_ERRORS)
UNKNOWN_CLIENT_OTHER_ERRORS = ["response_type_token", "unknown_scope", "missing_pkce"]


@pytest.mark.parametrize(
    ("bad", "description", "other_error"),
    [
        *(
            pytest.param(
                {"redirect_uri": "https://evil.example/cb"},
                REDIRECT_URI_MISMATCH,
                OTHER_ERRORS[name],
                id=f"bad_redirect_uri_with_{name}",
            )
            for name in BAD_REDIRECT_URI_OTHER_ERRORS
        ),
        *(
            pytest.param(
                {"client_id": "no-such-client"},
                "the client is unknown",
                OTHER_ERRORS[name],
                id=f"unknown_client_with_{name}",
            )
            for name in UNKNOWN_CLIENT_OTHER_ERRORS
        ),
    ],
)
async def test_authorize_untrusted_client_or_redirect_uri_with_another_error_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    bad: dict[str, str],
    description: str,
    other_error: dict[str, str | None],
) -> None:
    # The client and redirect URI are checked first: no error, whatever it is, goes to an
    # unverified URI.
    request = AuthorizationRequest(confidential_client, extra={**bad, **other_error})

    response = await auth_client.get(request.url())

    assert_error_page(response, page_error_text(description))
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
