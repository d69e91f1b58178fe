"""Pushed authorization requests (RFC 9126): POST /oauth/par, the request_uri at /oauth/authorize,
single use, PAR required per client and server-wide, discovery and client metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from auth_service.clients.registry import ClientChanges, update_client
from auth_service.config import AuthSettings
from auth_service.repositories import Repositories
from shared.models import (
    AuthorizationCode,
    Client,
    PendingAuthorization,
    PushedAuthorizationRequest,
)
from tests.conftest import ISSUER
from tests.factories import REDIRECT_URI, TestClient, TestUser, make_client
from tests.support.assertions import assert_error_page, assert_oauth_error
from tests.support.authorize import OTHER_REDIRECT_URI, assert_nothing_stored
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, csrf_from, exchange_code, login
from tests.support.lifecycle import snapshot
from tests.support.pages import (
    assert_client_code,
    assert_client_error,
    assert_step_redirect,
    page_error_text,
    remember_consent,
    sha256_hex,
    sign_in,
)
from tests.support.portal import app_form, browser, database_text, register_app, submit

PREFIX = "urn:ietf:params:oauth:request_uri:"
BASIC_CHALLENGE = 'Basic realm="oauth", charset="UTF-8"'
UNKNOWN = "the request_uri is not known for this client"
USED = "the request_uri was already used"
EXPIRED = "the request_uri has expired (RFC 9126 section 4)"
CLIENT_REQUIRES = (
    "this client requires pushed authorization requests: push the request to the pushed "
    "authorization request endpoint and send its request_uri (RFC 9126)"
)
SERVER_REQUIRES = CLIENT_REQUIRES.replace("this client", "this server")


@pytest.fixture
def setting_overrides() -> dict[str, Any]:
    """Parametrize with AuthSettings fields to change for one test."""
    return {}


@pytest.fixture
def settings(settings: AuthSettings, setting_overrides: dict[str, Any]) -> AuthSettings:
    return settings.model_copy(update=setting_overrides)


async def push(
    auth: httpx.AsyncClient, request: AuthorizationRequest, /, **changes: str | None
) -> httpx.Response:
    """POST the request's parameters to /oauth/par, authenticated as its client would be."""
    data: dict[str, str | None] = {**request.params(), **changes}
    form = {k: v for k, v in data.items() if v is not None}
    client = request.client
    if client.secret is None:
        return await auth.post("/oauth/par", data=form)
    return await auth.post("/oauth/par", data=form, auth=client.basic_auth())


async def pushed(auth: httpx.AsyncClient, request: AuthorizationRequest) -> str:
    response = await push(auth, request)
    assert response.status_code == 201, response.text
    request_uri: str = response.json()["request_uri"]
    return request_uri


def authorize_url(client_id: str, request_uri: str, **extra: str) -> str:
    return "/oauth/authorize?" + urlencode(
        {"client_id": client_id, "request_uri": request_uri, **extra}
    )


async def pushed_row(db: Database, request_uri: str) -> PushedAuthorizationRequest:
    row = await db.get(PushedAuthorizationRequest, sha256_hex(request_uri))
    assert row is not None
    return row


async def sign_in_and_allow(
    auth: httpx.AsyncClient, user: TestUser, response: httpx.Response
) -> httpx.Response:
    """From the authorize endpoint's redirect to /login: log in, allow, return the last redirect."""
    request_id = assert_step_redirect(response, "/login")
    logged_in = await login(auth, user, request_id=request_id)
    assert assert_step_redirect(logged_in, "/consent") == request_id
    page = await auth.get(logged_in.headers["location"])
    assert page.status_code == 200, page.text
    return await auth.post(
        "/consent",
        data={"allow": "allow", "request_id": request_id, "csrf_token": csrf_from(page.text)},
    )


# --- Pushing (RFC 9126 §2) ---


async def test_par_push_returns_201_with_unguessable_request_uri_stored_only_as_digest(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client)

    response = await push(auth_client, request)

    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"request_uri", "expires_in"}
    assert body["expires_in"] == 60
    assert body["request_uri"].startswith(PREFIX)
    assert len(body["request_uri"]) - len(PREFIX) >= 43  # 256 random bits (RFC 9126 §7.1)
    row = await pushed_row(db, body["request_uri"])
    assert row.client_id == confidential_client.client_id
    assert row.params == request.params()
    assert row.used_at is None
    assert (row.expires_at - row.created_at).total_seconds() == 60
    assert body["request_uri"] not in await database_text(db)
    # Pushing starts nothing yet: no pending request, code or grant.
    await assert_nothing_stored(db)


async def test_par_push_with_client_secret_post_never_stores_the_secret(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client)
    form = {**request.params(), "client_secret": confidential_client.secret or ""}

    response = await auth_client.post("/oauth/par", data=form)

    assert response.status_code == 201, response.text
    row = await pushed_row(db, response.json()["request_uri"])
    assert "client_secret" not in row.params
    assert (confidential_client.secret or "-") not in await database_text(db)


async def test_par_push_with_basic_auth_and_no_client_id_in_body_takes_the_authenticated_one(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client)

    response = await push(auth_client, request, client_id=None)

    assert response.status_code == 201, response.text
    row = await pushed_row(db, response.json()["request_uri"])
    assert row.params["client_id"] == confidential_client.client_id


@pytest.mark.parametrize("setting_overrides", [{"par_lifetime": 600}])
async def test_par_lifetime_setting_is_the_expires_in(
    auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    response = await push(auth_client, AuthorizationRequest(confidential_client))

    assert response.json()["expires_in"] == 600


@pytest.mark.parametrize("lifetime", [4, 601])
def test_par_lifetime_outside_5_to_600_seconds_is_refused_at_start_up(lifetime: int) -> None:
    with pytest.raises(ValidationError, match="par_lifetime"):
        AuthSettings(_env_file=None, par_lifetime=lifetime)  # type: ignore[call-arg]


async def test_par_public_client_pushes_with_client_id_and_completes_the_flow(
    db: Database, auth_client: httpx.AsyncClient, public_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(public_client)
    request_uri = await pushed(auth_client, request)

    response = await auth_client.get(authorize_url(public_client.client_id, request_uri))
    code = assert_client_code(
        await sign_in_and_allow(auth_client, user, response), REDIRECT_URI, state=request.state
    )
    tokens = await exchange_code(auth_client, request, code)

    assert tokens.status_code == 200, tokens.text
    assert (await pushed_row(db, request_uri)).used_at is not None


async def test_par_public_client_without_pkce_is_invalid_request_and_nothing_stored(
    db: Database, auth_client: httpx.AsyncClient, public_client: TestClient
) -> None:
    request = AuthorizationRequest(
        public_client, extra={"code_challenge": None, "code_challenge_method": None}
    )

    response = await push(auth_client, request)

    assert_oauth_error(
        response, "invalid_request", description="code_challenge is required (PKCE, RFC 7636)"
    )
    assert await db.count(PushedAuthorizationRequest) == 0


# --- Refused pushes: JSON errors (RFC 9126 §2.3), never a redirect, nothing stored ---


@pytest.mark.parametrize(
    ("changes", "error", "description"),
    [
        pytest.param(
            {"request_uri": PREFIX + "x" * 43},
            "invalid_request",
            "request_uri must not be sent to the pushed authorization request endpoint "
            "(RFC 9126 section 2.1)",
            id="request_uri_in_push",
        ),
        pytest.param(
            {"response_type": None}, "invalid_request", "response_type is missing", id="no_type"
        ),
        pytest.param(
            {"response_type": "token"},
            "unsupported_response_type",
            "only response_type=code is supported",
            id="implicit",
        ),
        pytest.param(
            {"scope": "openid admin"}, "invalid_scope", "unknown scope: admin", id="bad_scope"
        ),
        pytest.param(
            {"redirect_uri": OTHER_REDIRECT_URI},
            "invalid_request",
            "redirect_uri does not match any URI registered for this client",
            id="unregistered_redirect_uri",
        ),
        pytest.param(
            {"redirect_uri": None},
            "invalid_request",
            "redirect_uri is required for OpenID Connect requests "
            "(OpenID Connect Core section 3.1.2.1)",
            id="no_redirect_uri",
        ),
        pytest.param(
            {"code_challenge_method": "plain"},
            "invalid_request",
            "code_challenge_method must be S256",
            id="plain_pkce",
        ),
        pytest.param(
            {"request": "eyJhbGciOiJub25lIn0.e30."},
            "invalid_request_object",
            "the client registered no keys (jwks or jwks_uri) to sign request objects with",
            id="request_object_without_client_keys",
        ),
        pytest.param(
            {"prompt": "none login"},
            "invalid_request",
            "prompt=none cannot be combined with other values",
            id="bad_prompt",
        ),
    ],
)
async def test_par_push_with_bad_parameters_returns_json_error_and_stores_nothing(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    changes: dict[str, str | None],
    error: str,
    description: str,
) -> None:
    before = await snapshot(db)

    response = await push(auth_client, AuthorizationRequest(confidential_client), **changes)

    assert_oauth_error(response, error, description=description)
    assert "location" not in response.headers
    assert await snapshot(db) == before


async def test_par_push_with_a_repeated_parameter_is_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client)
    body = urlencode(request.params()) + "&scope=openid"

    response = await auth_client.post(
        "/oauth/par",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=confidential_client.basic_auth(),
    )

    assert_oauth_error(
        response, "invalid_request", description="parameter scope was sent more than once"
    )
    assert await db.count(PushedAuthorizationRequest) == 0


async def test_par_push_by_client_without_the_code_grant_is_unauthorized_client(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    machine = await make_client(db, grant_types=["client_credentials"], scope="read:notes")

    response = await push(auth_client, AuthorizationRequest(machine, scope="read:notes"))

    assert_oauth_error(
        response,
        "unauthorized_client",
        description="this client may not use the authorization code flow",
    )
    assert await db.count(PushedAuthorizationRequest) == 0


async def test_par_push_with_wrong_secret_is_401_invalid_client_with_basic_challenge(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client)

    response = await auth_client.post(
        "/oauth/par", data=request.params(), auth=(confidential_client.client_id, "wrong")
    )

    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication failed"
    )
    assert response.headers["www-authenticate"] == BASIC_CHALLENGE
    assert await db.count(PushedAuthorizationRequest) == 0


async def test_par_push_by_confidential_client_without_credentials_is_invalid_client(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # Its client_id alone is the public clients' `none`, which a confidential client never uses.
    response = await auth_client.post(
        "/oauth/par", data=AuthorizationRequest(confidential_client).params()
    )

    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication failed"
    )
    assert "www-authenticate" not in response.headers
    assert await db.count(PushedAuthorizationRequest) == 0


async def test_par_push_without_any_client_is_invalid_client(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    params = AuthorizationRequest(confidential_client).params()
    del params["client_id"]

    response = await auth_client.post("/oauth/par", data=params)

    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication is required"
    )
    assert await db.count(PushedAuthorizationRequest) == 0


async def test_par_push_as_json_is_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    response = await auth_client.post(
        "/oauth/par",
        json=AuthorizationRequest(confidential_client).params(),
        auth=confidential_client.basic_auth(),
    )

    assert_oauth_error(
        response,
        "invalid_request",
        description="the request body must be application/x-www-form-urlencoded",
    )
    assert await db.count(PushedAuthorizationRequest) == 0


async def test_par_endpoint_answers_only_post(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.get("/oauth/par")

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("setting_overrides", [{"token_limit_per_client": 2}])
async def test_par_pushes_beyond_the_per_client_budget_return_429_and_store_nothing(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    for _ in range(2):
        await pushed(auth_client, AuthorizationRequest(confidential_client))

    response = await push(auth_client, AuthorizationRequest(confidential_client))

    assert_oauth_error(response, "temporarily_unavailable", status=429)
    assert response.headers["retry-after"] == "60"
    assert await db.count(PushedAuthorizationRequest) == 2


@pytest.mark.parametrize("setting_overrides", [{"token_limit_per_client": 1}])
async def test_par_public_client_budget_is_per_client_and_address(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, public_client: TestClient
) -> None:
    await pushed(auth_client, AuthorizationRequest(public_client))

    refused = await push(auth_client, AuthorizationRequest(public_client))
    async with browser(auth_app, ip="10.0.0.2") as elsewhere:
        other_address = await push(elsewhere, AuthorizationRequest(public_client))

    assert_oauth_error(refused, "temporarily_unavailable", status=429)
    assert other_address.status_code == 201, other_address.text


# --- Using the request_uri at /oauth/authorize (RFC 9126 §4) ---


async def test_par_flow_push_authorize_login_consent_code_token(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client, scope="openid profile read:notes")
    request_uri = await pushed(auth_client, request)

    response = await auth_client.get(authorize_url(confidential_client.client_id, request_uri))
    final = await sign_in_and_allow(auth_client, user, response)
    code = assert_client_code(final, REDIRECT_URI, state=request.state)
    tokens = await exchange_code(auth_client, request, code)

    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "openid profile read:notes"
    row = await pushed_row(db, request_uri)
    assert row.used_at is not None
    (stored,) = await db.all(AuthorizationCode)
    assert stored.nonce == request.nonce
    assert stored.code_challenge == request.challenge


async def test_par_authorize_uses_only_the_pushed_parameters(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client, scope="openid profile")
    request_uri = await pushed(auth_client, request)
    # RFC 9126 §4: whatever else the query says is ignored, even what would change the outcome.
    url = authorize_url(
        confidential_client.client_id,
        request_uri,
        state="attacker-state",
        scope="openid email offline_access",
        redirect_uri=OTHER_REDIRECT_URI,
        prompt="none",
        code_challenge="A" * 43,
    )

    response = await auth_client.get(url)
    final = await sign_in_and_allow(auth_client, user, response)

    code = assert_client_code(final, REDIRECT_URI, state=request.state)
    tokens = await exchange_code(auth_client, request, code)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["scope"] == "openid profile"


async def test_par_authorize_by_post_form_uses_the_pushed_request(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    # OIDC Core §3.1.2.1: the authorization endpoint also takes a form POST.
    request = AuthorizationRequest(confidential_client)
    request_uri = await pushed(auth_client, request)

    response = await auth_client.post(
        "/oauth/authorize",
        data={"client_id": confidential_client.client_id, "request_uri": request_uri},
    )

    final = await sign_in_and_allow(auth_client, user, response)
    assert_client_code(final, REDIRECT_URI, state=request.state)
    assert (await pushed_row(db, request_uri)).used_at is not None


async def test_par_reloading_the_login_page_or_authorize_does_not_use_it_up(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client)
    request_uri = await pushed(auth_client, request)
    url = authorize_url(confidential_client.client_id, request_uri)
    first = await auth_client.get(url)
    login_path = first.headers["location"]

    for _ in range(2):
        assert (await auth_client.get(login_path)).status_code == 200
    again = await auth_client.get(url)

    assert_step_redirect(again, "/login")
    assert (await pushed_row(db, request_uri)).used_at is None
    assert await db.count(PendingAuthorization) == 2
    code = assert_client_code(
        await sign_in_and_allow(auth_client, user, again), REDIRECT_URI, state=request.state
    )
    assert (await exchange_code(auth_client, request, code)).status_code == 200


async def test_par_request_uri_used_for_a_code_shows_error_page_and_stores_nothing(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client)
    request_uri = await pushed(auth_client, request)
    url = authorize_url(confidential_client.client_id, request_uri)
    assert_client_code(
        await sign_in_and_allow(auth_client, user, await auth_client.get(url)),
        REDIRECT_URI,
        state=request.state,
    )
    before = await snapshot(db)

    response = await auth_client.get(url)

    assert_error_page(response, page_error_text(USED))
    assert "<code>invalid_request_uri</code>" in response.text
    assert await snapshot(db) == before


async def test_par_second_sign_in_begun_with_the_same_request_uri_gets_no_code(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client)
    request_uri = await pushed(auth_client, request)
    url = authorize_url(confidential_client.client_id, request_uri)
    first, second = await auth_client.get(url), await auth_client.get(url)
    assert_client_code(
        await sign_in_and_allow(auth_client, user, first), REDIRECT_URI, state=request.state
    )
    # Signed in and consented now, the second pending request goes straight to a code: refused.
    second_id = assert_step_redirect(second, "/login")

    response = await auth_client.get(f"/consent?request_id={second_id}")

    assert_error_page(response, page_error_text(USED))
    assert await db.count(AuthorizationCode) == 1
    # Rolled back: the second pending request is still there, unconsumed, and leads nowhere.
    assert await db.get(PendingAuthorization, second_id) is not None


async def test_par_two_consent_pages_of_one_request_uri_give_one_code(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client)
    request_uri = await pushed(auth_client, request)
    url = authorize_url(confidential_client.client_id, request_uri)
    first_id = assert_step_redirect(await auth_client.get(url), "/login")
    await login(auth_client, user, request_id=first_id)
    second_id = assert_step_redirect(await auth_client.get(url), "/consent")
    pages = [await auth_client.get(f"/consent?request_id={i}") for i in (first_id, second_id)]

    answers = [
        await auth_client.post(
            "/consent",
            data={"allow": "allow", "request_id": i, "csrf_token": csrf_from(page.text)},
        )
        for i, page in zip((first_id, second_id), pages, strict=True)
    ]

    assert_client_code(answers[0], REDIRECT_URI, state=request.state)
    assert_error_page(answers[1], page_error_text(USED))
    assert await db.count(AuthorizationCode) == 1


async def test_par_expired_request_uri_shows_error_page_and_stores_nothing(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    clock: TestClock,
) -> None:
    request_uri = await pushed(auth_client, AuthorizationRequest(confidential_client))
    clock.advance(60)

    response = await auth_client.get(authorize_url(confidential_client.client_id, request_uri))

    assert_error_page(response, page_error_text(EXPIRED))
    assert "<code>invalid_request_uri</code>" in response.text
    await assert_nothing_stored(db)


async def test_par_sign_in_begun_before_expiry_still_gets_its_code(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    clock: TestClock,
) -> None:
    request = AuthorizationRequest(confidential_client)
    request_uri = await pushed(auth_client, request)
    response = await auth_client.get(authorize_url(confidential_client.client_id, request_uri))
    # The user takes longer than the request_uri lives; the pending request is what waits.
    clock.advance(300)

    final = await sign_in_and_allow(auth_client, user, response)

    assert_client_code(final, REDIRECT_URI, state=request.state)
    assert (await pushed_row(db, request_uri)).used_at is not None


async def test_par_request_uri_of_another_client_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    other = await make_client(db)
    request_uri = await pushed(auth_client, AuthorizationRequest(confidential_client))

    response = await auth_client.get(authorize_url(other.client_id, request_uri))

    assert_error_page(response, page_error_text(UNKNOWN))
    await assert_nothing_stored(db)
    assert (await pushed_row(db, request_uri)).used_at is None


@pytest.mark.parametrize(
    ("query", "description"),
    [
        pytest.param(
            lambda client_id: {"request_uri": PREFIX + "a" * 43},
            "client_id is required with request_uri (RFC 9126 section 4)",
            id="no_client_id",
        ),
        pytest.param(
            lambda client_id: {"client_id": "nobody", "request_uri": PREFIX + "a" * 43},
            "the client is unknown",
            id="unknown_client",
        ),
        pytest.param(
            lambda client_id: {"client_id": client_id, "request_uri": PREFIX + "a" * 43},
            UNKNOWN,
            id="unknown_request_uri",
        ),
        pytest.param(
            lambda client_id: {"client_id": client_id, "request_uri": PREFIX + "a" * 500},
            UNKNOWN,
            id="oversized_request_uri",
        ),
    ],
)
async def test_par_authorize_with_bad_request_uri_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    query: Any,
    description: str,
) -> None:
    params = query(confidential_client.client_id)

    response = await auth_client.get("/oauth/authorize?" + urlencode(params))

    assert_error_page(response, page_error_text(description))
    await assert_nothing_stored(db)


async def test_par_authorize_with_repeated_request_uri_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request_uri = await pushed(auth_client, AuthorizationRequest(confidential_client))
    url = authorize_url(confidential_client.client_id, request_uri)

    response = await auth_client.get(url + "&" + urlencode({"request_uri": request_uri}))

    assert_error_page(response, page_error_text("request_uri was sent more than once"))
    await assert_nothing_stored(db)


async def test_par_authorize_with_repeated_client_id_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request_uri = await pushed(auth_client, AuthorizationRequest(confidential_client))
    url = authorize_url(confidential_client.client_id, request_uri)

    response = await auth_client.get(url + "&client_id=" + confidential_client.client_id)

    assert_error_page(response, page_error_text("client_id was sent more than once"))
    await assert_nothing_stored(db)


async def test_par_authorize_with_a_foreign_request_uri_is_still_request_uri_not_supported(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # Only our own URNs are pushed requests; a URL would be fetched, which we never do.
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


async def test_par_pushed_request_revalidated_at_authorize_after_client_changed(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    # RFC 9126 §4: validated again, as any other request; the redirect URI went away since.
    request_uri = await pushed(auth_client, AuthorizationRequest(confidential_client))
    await db.run(lambda repos: _replace_redirect_uris(repos, confidential_client.client_id))

    response = await auth_client.get(authorize_url(confidential_client.client_id, request_uri))

    assert_error_page(
        response,
        page_error_text("redirect_uri does not match any URI registered for this client"),
    )
    await assert_nothing_stored(db)


async def _replace_redirect_uris(repos: Repositories, client_id: str) -> None:
    client = await repos.clients.get_by_client_id(client_id)
    assert client is not None
    await update_client(
        repos, client, ClientChanges(redirect_uris=[OTHER_REDIRECT_URI]), now=datetime.now(UTC)
    )


async def test_par_prompt_none_with_session_and_consent_issues_code_and_uses_it_up(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    request = AuthorizationRequest(confidential_client, extra={"prompt": "none"})
    request_uri = await pushed(auth_client, request)
    url = authorize_url(confidential_client.client_id, request_uri)

    response = await auth_client.get(url)

    assert_client_code(response, REDIRECT_URI, state=request.state)
    assert (await pushed_row(db, request_uri)).used_at is not None
    assert_error_page(await auth_client.get(url), page_error_text(USED))


async def test_par_prompt_none_without_session_redirects_login_required_and_keeps_it(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    request = AuthorizationRequest(confidential_client, extra={"prompt": "none"})
    request_uri = await pushed(auth_client, request)

    response = await auth_client.get(authorize_url(confidential_client.client_id, request_uri))

    assert_client_error(
        response, REDIRECT_URI, "login_required", "the user is not logged in", state=request.state
    )
    await assert_nothing_stored(db)
    assert (await pushed_row(db, request_uri)).used_at is None


async def test_par_denied_consent_uses_the_request_uri_up(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client)
    request_uri = await pushed(auth_client, request)
    url = authorize_url(confidential_client.client_id, request_uri)
    request_id = assert_step_redirect(await auth_client.get(url), "/login")
    logged_in = await login(auth_client, user, request_id=request_id)
    page = await auth_client.get(logged_in.headers["location"])

    denied = await auth_client.post(
        "/consent",
        data={"deny": "deny", "request_id": request_id, "csrf_token": csrf_from(page.text)},
    )

    assert_client_error(
        denied, REDIRECT_URI, "access_denied", "the user denied the request", state=request.state
    )
    assert (await pushed_row(db, request_uri)).used_at is not None
    assert_error_page(await auth_client.get(url), page_error_text(USED))


# --- PAR required (RFC 9126 §4-6) ---


async def test_par_required_by_client_refuses_an_unpushed_request_with_error_redirect(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    client = await make_client(db, require_pushed_authorization_requests=True)
    request = AuthorizationRequest(client)

    response = await auth_client.get(request.url())

    assert_client_error(
        response, REDIRECT_URI, "invalid_request", CLIENT_REQUIRES, state=request.state
    )
    await assert_nothing_stored(db)


async def test_par_required_by_client_with_unregistered_redirect_uri_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    client = await make_client(db, require_pushed_authorization_requests=True)
    request = AuthorizationRequest(client, extra={"redirect_uri": OTHER_REDIRECT_URI})

    response = await auth_client.get(request.url())

    assert_error_page(
        response,
        page_error_text("redirect_uri does not match any URI registered for this client"),
    )
    await assert_nothing_stored(db)


async def test_par_required_by_client_accepts_its_pushed_request(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    client = await make_client(db, require_pushed_authorization_requests=True)
    request = AuthorizationRequest(client)
    request_uri = await pushed(auth_client, request)

    response = await auth_client.get(authorize_url(client.client_id, request_uri))

    final = await sign_in_and_allow(auth_client, user, response)
    assert_client_code(final, REDIRECT_URI, state=request.state)


async def test_par_not_required_for_other_clients(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    await make_client(db, require_pushed_authorization_requests=True)

    response = await auth_client.get(AuthorizationRequest(confidential_client).url())

    assert_step_redirect(response, "/login")


@pytest.mark.parametrize("setting_overrides", [{"require_par": True}])
async def test_par_required_server_wide_refuses_unpushed_and_accepts_pushed(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient
) -> None:
    plain = AuthorizationRequest(confidential_client)
    refused = await auth_client.get(plain.url())
    assert_client_error(
        refused, REDIRECT_URI, "invalid_request", SERVER_REQUIRES, state=plain.state
    )
    await assert_nothing_stored(db)

    request_uri = await pushed(auth_client, AuthorizationRequest(confidential_client))
    response = await auth_client.get(authorize_url(confidential_client.client_id, request_uri))

    assert_step_redirect(response, "/login")


@pytest.mark.parametrize("setting_overrides", [{"require_par": True}])
async def test_par_required_server_wide_unvetted_client_gets_the_confirm_page(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    # RFC 9700 §4.11.2: a self-registered client's URI is only followed if the user chooses to.
    client = await make_client(db)
    await db.run(
        lambda repos: repos.clients.set_registration_token_hash(client.client_id, "0" * 64)
    )

    response = await auth_client.get(AuthorizationRequest(client).url())

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "requires pushed authorization requests" in response.text
    await assert_nothing_stored(db)


# --- Discovery (RFC 9126 §5) ---


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
async def test_par_discovery_lists_endpoint_and_that_par_is_optional(
    auth_client: httpx.AsyncClient, path: str
) -> None:
    metadata = (await auth_client.get(path)).json()

    assert metadata["pushed_authorization_request_endpoint"] == f"{ISSUER}/oauth/par"
    assert metadata["require_pushed_authorization_requests"] is False


@pytest.mark.parametrize("setting_overrides", [{"require_par": True}])
async def test_par_discovery_says_par_is_required_when_the_server_requires_it(
    auth_client: httpx.AsyncClient,
) -> None:
    metadata = (await auth_client.get("/.well-known/openid-configuration")).json()

    assert metadata["require_pushed_authorization_requests"] is True


# --- Client metadata (RFC 9126 §6): dynamic registration and the portal ---

INITIAL_TOKEN = "initial-access-token-for-tests-0123456789"  # noqa: S105 - test credential
REGISTRATION = {"registration_initial_access_token": INITIAL_TOKEN}
METADATA: dict[str, Any] = {
    "client_name": "Pushing App",
    "redirect_uris": [REDIRECT_URI],
    "scope": "openid profile",
}


async def register(auth: httpx.AsyncClient, **metadata: Any) -> httpx.Response:
    return await auth.post(
        "/oauth/register",
        json={**METADATA, **metadata},
        headers={"Authorization": f"Bearer {INITIAL_TOKEN}"},
    )


@pytest.mark.parametrize("setting_overrides", [REGISTRATION])
async def test_par_registration_with_require_par_is_stored_echoed_and_enforced(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await register(auth_client, require_pushed_authorization_requests=True)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["require_pushed_authorization_requests"] is True
    row = await db.get(Client, body["client_id"])
    assert row is not None and row.require_pushed_authorization_requests is True
    read = await auth_client.get(
        body["registration_client_uri"][len(ISSUER) :],
        headers={"Authorization": f"Bearer {body['registration_access_token']}"},
    )
    assert read.json()["require_pushed_authorization_requests"] is True
    plain = AuthorizationRequest(TestClient(row, body["client_secret"]))
    refused = await auth_client.get(plain.url())
    # A self-registered client: the user is asked before being sent back (RFC 9700 §4.11.2).
    assert refused.status_code == 400
    assert "requires pushed authorization requests" in refused.text


@pytest.mark.parametrize("setting_overrides", [REGISTRATION])
async def test_par_registration_without_it_is_false_and_not_echoed(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await register(auth_client, require_pushed_authorization_requests=False)

    assert response.status_code == 201, response.text
    assert "require_pushed_authorization_requests" not in response.json()
    row = await db.get(Client, response.json()["client_id"])
    assert row is not None and row.require_pushed_authorization_requests is False


@pytest.mark.parametrize("setting_overrides", [REGISTRATION])
@pytest.mark.parametrize("value", ["true", 1, 0, [True], {}])
async def test_par_registration_with_a_non_boolean_is_invalid_client_metadata(
    db: Database, auth_client: httpx.AsyncClient, value: Any
) -> None:
    response = await register(auth_client, require_pushed_authorization_requests=value)

    assert_oauth_error(
        response,
        "invalid_client_metadata",
        description="require_pushed_authorization_requests must be true or false",
    )
    assert await db.count(Client) == 0


@pytest.mark.parametrize("setting_overrides", [REGISTRATION])
async def test_par_registration_update_sets_and_clears_it(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    body = (await register(auth_client)).json()
    path = body["registration_client_uri"][len(ISSUER) :]
    headers = {"Authorization": f"Bearer {body['registration_access_token']}"}
    full = {**METADATA, "client_id": body["client_id"]}

    turned_on = await auth_client.put(
        path, json={**full, "require_pushed_authorization_requests": True}, headers=headers
    )
    on_row = await db.get(Client, body["client_id"])
    # RFC 7592 §2.2: the update replaces the registration; leaving it out turns it off.
    turned_off = await auth_client.put(path, json=full, headers=headers)
    off_row = await db.get(Client, body["client_id"])

    assert turned_on.status_code == 200, turned_on.text
    assert turned_on.json()["require_pushed_authorization_requests"] is True
    assert on_row is not None and on_row.require_pushed_authorization_requests is True
    assert turned_off.status_code == 200, turned_off.text
    assert "require_pushed_authorization_requests" not in turned_off.json()
    assert off_row is not None and off_row.require_pushed_authorization_requests is False


async def test_par_portal_registers_edits_and_shows_require_par(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)

    created = await register_app(auth_client, require_par="on")

    assert created.status_code == 200, created.text
    (row,) = await db.all(Client)
    assert row.require_pushed_authorization_requests is True
    path = f"/developers/apps/{row.client_id}"
    page = await auth_client.get(path)
    assert 'name="require_par" type="checkbox" aria-describedby="par-help" checked' in page.text
    saved = await submit(auth_client, path, path, app_form())
    assert saved.status_code == 303, saved.text
    after = await db.get(Client, row.client_id)
    assert after is not None and after.require_pushed_authorization_requests is False
    page = await auth_client.get(path)
    assert 'aria-describedby="par-help">' in page.text
