"""OpenID Connect parameters of /oauth/authorize: OIDC Core §3.1.2.1, §3.1.2.6 and §6."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from shared.models import AuthorizationCode, PendingAuthorization, SigningKey
from tests.factories import REDIRECT_URI, TestClient, TestUser, make_user
from tests.support.authorize import RefusedRequest, assert_refused_with_error_redirect, refused
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest
from tests.support.forge import Forger
from tests.support.oidc import (
    browser,
    code_flow_tokens,
    foreign_forger,
    id_token_claims,
    input_value,
)
from tests.support.pages import (
    assert_client_code,
    assert_client_error,
    remember_consent,
    sign_in,
    start_authorization,
)

# --- Parameters OpenID Connect requires or that we do not support ---

OIDC_REFUSALS = [
    # OIDC Core §3.1.2.1: a missing redirect_uri is shown on our page, never followed
    # (tests/api/auth_service/test_authorize_error_page.py).
    # OIDC Core §5.5 is optional; discovery says claims_parameter_supported=false.
    *(
        refused(
            f"{name}_redirects_invalid_request",
            "invalid_request",
            "the claims parameter is not supported",
            extra={"claims": claims},
        )
        for name, claims in [
            ("claims_parameter", '{"userinfo":{"email":{"essential":true}}}'),
            ("empty_claims_parameter", '{"userinfo":{}}'),
        ]
    ),
    # Request objects (RFC 9101) are tested in test_request_objects.py: their refusals are
    # shown on our page, since the redirect_uri of an unverified object cannot be trusted.
    # OIDC Core §6.2 / §3.1.2.6: request_uri_not_supported; the URI is never fetched.
    refused(
        "request_uri_redirects_request_uri_not_supported",
        "request_uri_not_supported",
        "request_uri is not supported",
        extra={"request_uri": "https://client.example/request.jwt"},
    ),
]


@pytest.mark.parametrize("case", OIDC_REFUSALS)
async def test_authorize_oidc_refused(
    db: Database, auth_client: httpx.AsyncClient, case: RefusedRequest
) -> None:
    await assert_refused_with_error_redirect(db, auth_client, case)


async def test_authorize_ui_locales_is_accepted_and_ignored(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    # OIDC Core §3.1.2.1: ui_locales is a preference; an OP that does not support it ignores it.
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    request = AuthorizationRequest(confidential_client, extra={"ui_locales": "fr-CA fr en"})

    response = await auth_client.get(request.url())

    assert_client_code(response, REDIRECT_URI, state=request.state)
    assert await db.count(AuthorizationCode) == 1


async def test_authorize_login_hint_prefills_username_on_login_page(
    auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(confidential_client, extra={"login_hint": user.username})
    request_id = await start_authorization(auth_client, request)

    page = await auth_client.get("/login", params={"request_id": request_id})

    assert page.status_code == 200, page.text
    assert input_value(page.text, "username") == user.username


# --- id_token_hint (OIDC Core §3.1.2.1) ---


@pytest.fixture
async def other_users_id_token(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
) -> str:
    """Another user's ID token, while `user` is logged in (one code flow each) in `auth_client`."""
    other = await make_user(db)
    async with browser(auth_app) as other_browser:
        _, other_tokens = await code_flow_tokens(other_browser, confidential_client, other)
    await code_flow_tokens(auth_client, confidential_client, user)
    token: str = other_tokens["id_token"]
    return token


def assert_hint_not_issued_by_us(response: httpx.Response, request: AuthorizationRequest) -> None:
    assert_client_error(
        response,
        REDIRECT_URI,
        "invalid_request",
        "id_token_hint is not an ID token we issued",
        state=request.state,
    )


def assert_hint_user_not_logged_in(response: httpx.Response, request: AuthorizationRequest) -> None:
    assert_client_error(
        response,
        REDIRECT_URI,
        "login_required",
        "the user named by id_token_hint is not logged in",
        state=request.state,
    )


async def test_authorize_prompt_none_with_hint_of_logged_in_user_redirects_with_code(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    _, tokens = await code_flow_tokens(auth_client, confidential_client, user)
    request = AuthorizationRequest(
        confidential_client, extra={"prompt": "none", "id_token_hint": tokens["id_token"]}
    )

    response = await auth_client.get(request.url())

    assert_client_code(response, REDIRECT_URI, state=request.state)
    assert await db.count(AuthorizationCode) == 2


async def test_authorize_prompt_none_with_expired_hint_of_logged_in_user_redirects_with_code(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    # §3.1.2.1: the hint is accepted whether or not it has expired.
    _, tokens = await code_flow_tokens(auth_client, confidential_client, user)
    # The browser is used half way, so its session outlives its idle timeout meanwhile.
    half = (settings.id_token_ttl + settings.leeway + 60) / 2
    clock.advance(half)
    assert (await auth_client.get("/")).status_code == 200
    clock.advance(half)
    request = AuthorizationRequest(
        confidential_client, extra={"prompt": "none", "id_token_hint": tokens["id_token"]}
    )

    response = await auth_client.get(request.url())

    assert_client_code(response, REDIRECT_URI, state=request.state)


async def test_authorize_prompt_none_with_hint_of_another_user_redirects_login_required(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    other_users_id_token: str,
) -> None:
    request = AuthorizationRequest(
        confidential_client, extra={"prompt": "none", "id_token_hint": other_users_id_token}
    )

    response = await auth_client.get(request.url())

    assert_hint_user_not_logged_in(response, request)
    assert await db.count(AuthorizationCode) == 2  # one per completed flow, none for this one


async def test_authorize_hint_of_another_user_without_prompt_issues_no_code_for_the_session_user(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    other_users_id_token: str,
) -> None:
    # OIDC Core §3.1.2.1: unless the user the hint names is logged in (or logs in through this
    # request), the OP SHOULD return an error such as login_required; it must not silently
    # answer for whoever else holds the session. Either outcome below meets that.
    request = AuthorizationRequest(
        confidential_client, extra={"id_token_hint": other_users_id_token}
    )

    response = await auth_client.get(request.url())

    assert response.status_code in (302, 303), response.text
    location = response.headers["location"]
    assert location.startswith("/login?request_id=") or "error=login_required" in location, location
    assert await db.count(AuthorizationCode) == 2  # one per completed flow, none for this one


async def test_authorize_prompt_none_with_hint_and_no_session_redirects_login_required(
    db: Database, auth_app: FastAPI, confidential_client: TestClient, user: TestUser
) -> None:
    async with browser(auth_app) as earlier:
        _, tokens = await code_flow_tokens(earlier, confidential_client, user)
    request = AuthorizationRequest(
        confidential_client, extra={"prompt": "none", "id_token_hint": tokens["id_token"]}
    )

    async with browser(auth_app) as fresh:
        response = await fresh.get(request.url())

    assert_hint_user_not_logged_in(response, request)
    assert await db.count(PendingAuthorization) == 0


@pytest.mark.parametrize("impersonate_kid", [False, True], ids=["unknown-kid", "our-kid"])
async def test_authorize_hint_signed_by_foreign_key_redirects_invalid_request(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    clock: TestClock,
    impersonate_kid: bool,
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    keys = (await auth_client.get("/.well-known/jwks.json")).json()["keys"]
    forger = foreign_forger(kid=keys[0]["kid"] if impersonate_kid else None)
    hint = forger.sign(
        id_token_claims(clock(), sub=user.id, aud=confidential_client.client_id), typ="JWT"
    )
    request = AuthorizationRequest(
        confidential_client, extra={"prompt": "none", "id_token_hint": hint}
    )

    response = await auth_client.get(request.url())

    assert_hint_not_issued_by_us(response, request)
    assert await db.count(AuthorizationCode) == 0


async def test_authorize_access_token_as_hint_redirects_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    _, tokens = await code_flow_tokens(auth_client, confidential_client, user)
    request = AuthorizationRequest(
        confidential_client, extra={"prompt": "none", "id_token_hint": tokens["access_token"]}
    )

    response = await auth_client.get(request.url())

    assert_hint_not_issued_by_us(response, request)
    assert await db.count(AuthorizationCode) == 1


async def test_authorize_hint_with_foreign_issuer_signed_by_our_key_redirects_invalid_request(
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    clock: TestClock,
    settings: AuthSettings,
    signing_key: SigningKey,
) -> None:
    forger = Forger.from_key_dir(settings.key_dir, signing_key.kid)
    claims = id_token_claims(
        clock(), sub=user.id, aud=confidential_client.client_id, iss="https://other.example"
    )
    request = AuthorizationRequest(
        confidential_client,
        extra={"prompt": "none", "id_token_hint": forger.sign(claims, typ="JWT")},
    )

    response = await auth_client.get(request.url())

    assert_hint_not_issued_by_us(response, request)
