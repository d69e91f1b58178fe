"""Which step /oauth/authorize sends the browser to: login, consent or straight back with a code;
prompt and max_age (OIDC Core §3.1.2.1, §3.1.2.6)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from auth_service.config import AuthSettings
from shared.models import AuthorizationCode, PendingAuthorization, UserSession
from tests.factories import REDIRECT_URI, TestClient, TestUser
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, login
from tests.support.pages import (
    AWKWARD_STATE,
    assert_client_code,
    assert_client_error,
    assert_page_security_headers,
    assert_step_redirect,
    remember_consent,
    sha256_hex,
    sign_in,
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
    assert await db.count(PendingAuthorization) == 0
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


async def ended_session(db: Database, client: TestClient, user: TestUser) -> None:
    await remember_consent(db, user, client, "openid profile")
    await db.run(lambda repos: repos.sessions.delete_all_for_user(user.id))


async def no_consent(db: Database, client: TestClient, user: TestUser) -> None:
    pass


async def narrower_consent(db: Database, client: TestClient, user: TestUser) -> None:
    await remember_consent(db, user, client, "openid")


NOT_CONSENTED = "the user has not consented to these scopes"


@pytest.mark.parametrize(
    ("arrange", "scope", "error", "description"),
    [
        pytest.param(
            ended_session,
            "openid profile",
            "login_required",
            "the user is not logged in",
            id="with_expired_session_redirects_with_login_required",
        ),
        pytest.param(
            no_consent,
            "openid profile",
            "consent_required",
            NOT_CONSENTED,
            id="with_session_without_consent_redirects_with_consent_required",
        ),
        pytest.param(
            narrower_consent,
            "openid email",
            "consent_required",
            NOT_CONSENTED,
            id="with_narrower_consent_redirects_with_consent_required",
        ),
    ],
)
async def test_authorize_prompt_none(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    arrange: Callable[[Database, TestClient, TestUser], Awaitable[None]],
    scope: str,
    error: str,
    description: str,
) -> None:
    await sign_in(auth_client, user)
    await arrange(db, confidential_client, user)
    request = AuthorizationRequest(confidential_client, scope=scope, extra={"prompt": "none"})

    response = await auth_client.get(request.url())

    assert_client_error(response, REDIRECT_URI, error, description, state=request.state)
    assert await db.count(PendingAuthorization) == 0
    assert await db.count(AuthorizationCode) == 0


async def test_authorize_prompt_none_with_session_and_consent_redirects_with_code(
    db: Database, auth_client: httpx.AsyncClient, confidential_client: TestClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    await remember_consent(db, user, confidential_client, "openid profile")
    request = AuthorizationRequest(confidential_client, extra={"prompt": "none"})

    response = await auth_client.get(request.url())

    assert_client_code(response, REDIRECT_URI, state=request.state)
    assert await db.count(PendingAuthorization) == 0
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
