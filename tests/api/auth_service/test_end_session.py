"""GET/POST /oauth/logout: OpenID Connect RP-Initiated Logout 1.0 §2-§4."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from shared.models import AuditEvent, SigningKey, UserSession
from tests.conftest import ISSUER
from tests.factories import REDIRECT_URI, TestClient, TestUser, make_client, make_user
from tests.support.assertions import assert_error_page
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import csrf_from
from tests.support.forge import Forger
from tests.support.oidc import (
    POST_LOGOUT_URI,
    browser,
    code_flow_tokens,
    foreign_forger,
    hidden_fields,
    id_token_claims,
    logout_url,
)
from tests.support.pages import (
    AWKWARD_STATE,
    SESSION_COOKIE,
    assert_page_security_headers,
    page_error_text,
    set_cookie,
    set_cookie_names,
    sign_in,
)

STATE = "rp-state-0123"
SIGN_OUT_BUTTON = (
    '<button type="submit" name="confirm" value="yes" class="primary">Sign out</button>'
)


@pytest.fixture
async def rp(db: Database) -> TestClient:
    """A relying party with a registered post-logout redirect URI."""
    return await make_client(db, post_logout_redirect_uris=[POST_LOGOUT_URI])


@pytest.fixture
async def id_token(auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser) -> str:
    """Log `user` in through the code flow in `auth_client`'s browser; their ID token."""
    _, tokens = await code_flow_tokens(auth_client, rp, user)
    token: str = tokens["id_token"]
    return token


async def assert_signed_in(db: Database, user: TestUser, auth: httpx.AsyncClient) -> None:
    """The session row still exists and the browser still holds its cookie."""
    sessions = await db.all(UserSession)
    assert [s.user_id for s in sessions] == [user.id]
    assert auth.cookies.get(SESSION_COOKIE)
    assert await db.count(AuditEvent, AuditEvent.event == "logout") == 0


async def assert_signed_out(
    db: Database, user: TestUser, auth: httpx.AsyncClient, response: httpx.Response
) -> None:
    """Session row deleted, cookie expired in the response and gone from the browser."""
    assert await db.count(UserSession) == 0
    cookie = set_cookie(response, SESSION_COOKIE)
    assert cookie["value"] == ""
    assert cookie["max-age"] == "0"
    assert cookie["path"] == "/"
    assert cookie["httponly"] == "True"
    assert auth.cookies.get(SESSION_COOKIE) is None
    (event,) = await db.all(AuditEvent, AuditEvent.event == "logout")
    assert event.user_id == user.id


def assert_post_logout_redirect(response: httpx.Response, uri: str, state: str | None) -> None:
    """§3: a redirect to exactly the registered URI, with the RP's state and nothing else."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == uri
    added = parse_qsl(parts.query, keep_blank_values=True)
    assert added == ([("state", state)] if state is not None else []), location
    assert parts.fragment == ""


def assert_confirmation_page(response: httpx.Response, *, expired: bool = False) -> dict[str, str]:
    """§2: the page asking whether to sign out; returns the fields its form will POST.

    `expired`: a confirmation with a bad CSRF token is asked again with 400 and a notice.
    """
    assert response.status_code == (400 if expired else 200), response.text
    if expired:
        assert "This form has expired. Please try again." in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert '<form method="post" action="/oauth/logout">' in response.text
    assert SIGN_OUT_BUTTON in response.text
    fields = hidden_fields(response.text)
    assert fields["csrf_token"] == csrf_from(response.text)
    return fields


# --- Discovery ---


async def test_end_session_endpoint_is_advertised_as_oauth_logout(
    auth_client: httpx.AsyncClient,
) -> None:
    metadata = (await auth_client.get("/.well-known/openid-configuration")).json()

    assert metadata["end_session_endpoint"] == f"{ISSUER}/oauth/logout"


# --- A valid id_token_hint for the logged-in user: no question asked (§2) ---


async def test_end_session_hint_of_logged_in_user_and_registered_uri_ends_session_and_redirects(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    url = logout_url(
        {"id_token_hint": id_token, "post_logout_redirect_uri": POST_LOGOUT_URI, "state": STATE}
    )

    response = await auth_client.get(url)

    assert response.headers["location"] == f"{POST_LOGOUT_URI}?state={STATE}"
    assert_post_logout_redirect(response, POST_LOGOUT_URI, STATE)
    await assert_signed_out(db, user, auth_client, response)


async def test_end_session_state_is_echoed_byte_for_byte(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    url = logout_url(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": AWKWARD_STATE,
        }
    )

    response = await auth_client.get(url)

    assert_post_logout_redirect(response, POST_LOGOUT_URI, AWKWARD_STATE)
    await assert_signed_out(db, user, auth_client, response)


async def test_end_session_without_state_redirects_without_state(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    url = logout_url({"id_token_hint": id_token, "post_logout_redirect_uri": POST_LOGOUT_URI})

    response = await auth_client.get(url)

    assert response.headers["location"] == POST_LOGOUT_URI
    await assert_signed_out(db, user, auth_client, response)


async def test_end_session_post_with_hint_ends_session_and_redirects(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    # §2: the OP MUST support both GET and POST (form serialization).
    response = await auth_client.post(
        "/oauth/logout",
        data={
            "id_token_hint": id_token,
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": STATE,
        },
    )

    assert_post_logout_redirect(response, POST_LOGOUT_URI, STATE)
    await assert_signed_out(db, user, auth_client, response)


async def test_end_session_hint_without_redirect_uri_ends_session_and_shows_signed_out_page(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    response = await auth_client.get(logout_url({"id_token_hint": id_token, "state": STATE}))

    assert response.status_code == 200, response.text
    assert "location" not in response.headers
    assert "You are signed out of MyAuthProvider." in response.text
    await assert_signed_out(db, user, auth_client, response)


async def test_end_session_expired_hint_is_accepted_but_asks_before_signing_out(
    db: Database,
    auth_client: httpx.AsyncClient,
    rp: TestClient,
    user: TestUser,
    id_token: str,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    # §2: an expired hint SHOULD still be accepted; with no `sid` in our ID tokens it cannot show
    # it belongs to this session, and then the OP must ask. The operator's client is redirected.
    # The browser is used half way, so its session outlives its idle timeout meanwhile.
    half = (settings.id_token_ttl + settings.leeway + 60) / 2
    clock.advance(half)
    assert (await auth_client.get("/")).status_code == 200
    clock.advance(half)
    url = logout_url(
        {"id_token_hint": id_token, "post_logout_redirect_uri": POST_LOGOUT_URI, "state": STATE}
    )

    fields = assert_confirmation_page(await auth_client.get(url))
    await assert_signed_in(db, user, auth_client)
    assert fields["id_token_hint"] == id_token
    response = await auth_client.post("/oauth/logout", data={**fields, "confirm": "yes"})

    assert_post_logout_redirect(response, POST_LOGOUT_URI, STATE)
    await assert_signed_out(db, user, auth_client, response)


async def test_end_session_hint_expiring_within_the_leeway_still_signs_out_silently(
    db: Database,
    auth_client: httpx.AsyncClient,
    rp: TestClient,
    user: TestUser,
    id_token: str,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    # The browser is used half way, so its session outlives its idle timeout meanwhile.
    half = (settings.id_token_ttl + settings.leeway - 5) / 2
    clock.advance(half)
    assert (await auth_client.get("/")).status_code == 200
    clock.advance(half)
    url = logout_url({"id_token_hint": id_token, "post_logout_redirect_uri": POST_LOGOUT_URI})

    response = await auth_client.get(url)

    assert_post_logout_redirect(response, POST_LOGOUT_URI, None)
    await assert_signed_out(db, user, auth_client, response)


# --- Redirect targets that cannot be trusted: our own page, session kept (§3) ---


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/signed-out",
        REDIRECT_URI,  # registered as a redirect_uri, not as a post-logout one
        POST_LOGOUT_URI + "/",
        POST_LOGOUT_URI + "?x=1",
        POST_LOGOUT_URI.upper(),
    ],
)
async def test_end_session_unregistered_redirect_uri_shows_error_page_and_keeps_session(
    db: Database,
    auth_client: httpx.AsyncClient,
    rp: TestClient,
    user: TestUser,
    id_token: str,
    uri: str,
) -> None:
    url = logout_url({"id_token_hint": id_token, "post_logout_redirect_uri": uri, "state": STATE})

    response = await auth_client.get(url)

    assert_error_page(
        response, page_error_text("post_logout_redirect_uri is not registered for this client")
    )
    assert "<code>invalid_request</code>" in response.text
    assert SESSION_COOKIE not in set_cookie_names(response)
    await assert_signed_in(db, user, auth_client)


async def test_end_session_redirect_uri_without_hint_or_client_id_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    url = logout_url({"post_logout_redirect_uri": POST_LOGOUT_URI, "state": STATE})

    response = await auth_client.get(url)

    assert_error_page(
        response, page_error_text("post_logout_redirect_uri needs id_token_hint or client_id")
    )
    await assert_signed_in(db, user, auth_client)


async def test_end_session_client_id_not_matching_hint_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    # §2: when both are given, the OP verifies that client_id matches the hint's audience.
    other = await make_client(db, post_logout_redirect_uris=[POST_LOGOUT_URI])
    url = logout_url(
        {
            "id_token_hint": id_token,
            "client_id": other.client_id,
            "post_logout_redirect_uri": POST_LOGOUT_URI,
        }
    )

    response = await auth_client.get(url)

    assert_error_page(response, page_error_text("client_id does not match the id_token_hint"))
    await assert_signed_in(db, user, auth_client)


async def test_end_session_unknown_client_id_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    url = logout_url({"client_id": "no-such-client", "post_logout_redirect_uri": POST_LOGOUT_URI})

    response = await auth_client.get(url)

    assert_error_page(response, page_error_text("the client is unknown"))
    await assert_signed_in(db, user, auth_client)


@pytest.mark.parametrize("name", ["state", "post_logout_redirect_uri", "id_token_hint"])
async def test_end_session_duplicated_parameter_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    rp: TestClient,
    user: TestUser,
    id_token: str,
    name: str,
) -> None:
    params = {
        "id_token_hint": id_token,
        "post_logout_redirect_uri": POST_LOGOUT_URI,
        "state": STATE,
    }
    items = [*params.items(), (name, params[name])]

    response = await auth_client.get(logout_url(items))

    assert_error_page(response, page_error_text(f"parameter {name} was sent more than once"))
    await assert_signed_in(db, user, auth_client)


# --- id_token_hint we did not issue: our own page (§2, §4) ---


@pytest.mark.parametrize("impersonate_kid", [False, True], ids=["unknown-kid", "our-kid"])
async def test_end_session_hint_signed_by_foreign_key_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    rp: TestClient,
    user: TestUser,
    id_token: str,
    clock: TestClock,
    signing_key: SigningKey,
    impersonate_kid: bool,
) -> None:
    forger = foreign_forger(kid=signing_key.kid if impersonate_kid else None)
    hint = forger.sign(id_token_claims(clock(), sub=user.id, aud=rp.client_id), typ="JWT")
    url = logout_url(
        {"id_token_hint": hint, "post_logout_redirect_uri": POST_LOGOUT_URI, "state": STATE}
    )

    response = await auth_client.get(url)

    assert_error_page(response, page_error_text("id_token_hint is not an ID token we issued"))
    await assert_signed_in(db, user, auth_client)


async def test_end_session_hint_with_another_issuer_shows_error_page(
    db: Database,
    auth_client: httpx.AsyncClient,
    rp: TestClient,
    user: TestUser,
    id_token: str,
    clock: TestClock,
    settings: AuthSettings,
    signing_key: SigningKey,
) -> None:
    forger = Forger.from_key_dir(settings.key_dir, signing_key.kid)
    claims = id_token_claims(clock(), sub=user.id, aud=rp.client_id, iss="https://other.example")
    url = logout_url({"id_token_hint": forger.sign(claims, typ="JWT")})

    response = await auth_client.get(url)

    assert_error_page(response, page_error_text("id_token_hint is not an ID token we issued"))
    await assert_signed_in(db, user, auth_client)


async def test_end_session_access_token_as_hint_shows_error_page(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser
) -> None:
    _, tokens = await code_flow_tokens(auth_client, rp, user)
    url = logout_url(
        {"id_token_hint": tokens["access_token"], "post_logout_redirect_uri": POST_LOGOUT_URI}
    )

    response = await auth_client.get(url)

    assert_error_page(response, page_error_text("id_token_hint is not an ID token we issued"))
    await assert_signed_in(db, user, auth_client)


# --- No proof of who is logged in: ask first (§2), CSRF-protected ---


async def test_end_session_client_id_instead_of_hint_shows_confirmation_page(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    url = logout_url(
        {"client_id": rp.client_id, "post_logout_redirect_uri": POST_LOGOUT_URI, "state": STATE}
    )

    response = await auth_client.get(url)

    fields = assert_confirmation_page(response)
    assert fields == {
        "csrf_token": fields["csrf_token"],
        "client_id": rp.client_id,
        "post_logout_redirect_uri": POST_LOGOUT_URI,
        "state": STATE,
    }
    assert "<strong>Test App</strong> asks to sign you out" in response.text
    await assert_signed_in(db, user, auth_client)


async def test_end_session_confirmation_form_post_ends_session_and_redirects(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    url = logout_url(
        {"client_id": rp.client_id, "post_logout_redirect_uri": POST_LOGOUT_URI, "state": STATE}
    )
    fields = assert_confirmation_page(await auth_client.get(url))

    response = await auth_client.post("/oauth/logout", data={**fields, "confirm": "yes"})

    assert response.headers["location"] == f"{POST_LOGOUT_URI}?state={STATE}"
    assert_post_logout_redirect(response, POST_LOGOUT_URI, STATE)
    await assert_signed_out(db, user, auth_client, response)


async def test_end_session_confirmation_carries_awkward_state_through_the_form(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    url = logout_url(
        {
            "client_id": rp.client_id,
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": AWKWARD_STATE,
        }
    )
    fields = assert_confirmation_page(await auth_client.get(url))

    response = await auth_client.post("/oauth/logout", data={**fields, "confirm": "yes"})

    assert_post_logout_redirect(response, POST_LOGOUT_URI, AWKWARD_STATE)
    await assert_signed_out(db, user, auth_client, response)


@pytest.mark.parametrize(
    "csrf",
    [None, "", "wrong-token", "tampered"],
    ids=["missing", "empty", "wrong", "tampered"],
)
async def test_end_session_confirmation_post_without_valid_csrf_asks_again_and_keeps_session(
    db: Database,
    auth_client: httpx.AsyncClient,
    rp: TestClient,
    user: TestUser,
    id_token: str,
    csrf: str | None,
) -> None:
    url = logout_url({"client_id": rp.client_id, "post_logout_redirect_uri": POST_LOGOUT_URI})
    fields = assert_confirmation_page(await auth_client.get(url))
    data = {**fields, "confirm": "yes"}
    if csrf is None:
        del data["csrf_token"]
    elif csrf == "tampered":
        data["csrf_token"] = fields["csrf_token"][:-1] + (
            "A" if fields["csrf_token"][-1] != "A" else "B"
        )
    else:
        data["csrf_token"] = csrf

    response = await auth_client.post("/oauth/logout", data=data)

    assert_confirmation_page(response, expired=True)
    await assert_signed_in(db, user, auth_client)


async def test_end_session_confirmation_post_without_confirm_asks_again_and_keeps_session(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    url = logout_url({"client_id": rp.client_id, "post_logout_redirect_uri": POST_LOGOUT_URI})
    fields = assert_confirmation_page(await auth_client.get(url))

    response = await auth_client.post("/oauth/logout", data=fields)

    assert_confirmation_page(response)
    await assert_signed_in(db, user, auth_client)


async def test_end_session_confirm_by_get_with_valid_csrf_does_not_end_session(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    # The decision is a POST: a link or image cannot sign the user out.
    url = logout_url({"client_id": rp.client_id, "post_logout_redirect_uri": POST_LOGOUT_URI})
    fields = assert_confirmation_page(await auth_client.get(url))

    response = await auth_client.get(logout_url({**fields, "confirm": "yes"}))

    assert_confirmation_page(response)
    await assert_signed_in(db, user, auth_client)


async def test_end_session_csrf_token_of_an_earlier_session_is_refused(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    # The token is bound to the session it was shown to: signing in again in the same browser
    # (same browser cookie, new session) makes the old page's token worthless.
    url = logout_url({"client_id": rp.client_id, "post_logout_redirect_uri": POST_LOGOUT_URI})
    old_fields = assert_confirmation_page(await auth_client.get(url))
    await sign_in(auth_client, user)

    response = await auth_client.post("/oauth/logout", data={**old_fields, "confirm": "yes"})

    assert_confirmation_page(response, expired=True)
    await assert_signed_in(db, user, auth_client)


async def test_end_session_csrf_token_of_the_plain_logout_form_is_refused(
    db: Database, auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    # Tokens are bound to their form's purpose: /logout's token does not confirm /oauth/logout.
    url = logout_url({"client_id": rp.client_id, "post_logout_redirect_uri": POST_LOGOUT_URI})
    fields = assert_confirmation_page(await auth_client.get(url))
    plain_logout_page = await auth_client.get("/logout")
    assert plain_logout_page.status_code == 200, plain_logout_page.text

    response = await auth_client.post(
        "/oauth/logout",
        data={**fields, "csrf_token": csrf_from(plain_logout_page.text), "confirm": "yes"},
    )

    assert_confirmation_page(response, expired=True)
    await assert_signed_in(db, user, auth_client)


async def test_end_session_csrf_token_from_another_browser_is_refused(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    rp: TestClient,
    user: TestUser,
    id_token: str,
) -> None:
    url = logout_url({"client_id": rp.client_id, "post_logout_redirect_uri": POST_LOGOUT_URI})
    other = await make_user(db)
    async with browser(auth_app) as attacker:
        await sign_in(attacker, other)
        attacker_fields = assert_confirmation_page(await attacker.get(url))
    fields = assert_confirmation_page(await auth_client.get(url))

    response = await auth_client.post(
        "/oauth/logout",
        data={**fields, "csrf_token": attacker_fields["csrf_token"], "confirm": "yes"},
    )

    assert_confirmation_page(response, expired=True)
    assert await db.count(UserSession, UserSession.user_id == user.id) == 1


async def test_end_session_hint_of_another_user_shows_confirmation_page(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    rp: TestClient,
    user: TestUser,
    id_token: str,
) -> None:
    other = await make_user(db)
    async with browser(auth_app) as other_browser:
        _, other_tokens = await code_flow_tokens(other_browser, rp, other)
    # Only `user` stays signed in; the other user's ID token outlives their session.
    await db.run(lambda repos: repos.sessions.delete_all_for_user(other.id))
    url = logout_url(
        {
            "id_token_hint": other_tokens["id_token"],
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": STATE,
        }
    )

    response = await auth_client.get(url)

    fields = assert_confirmation_page(response)
    assert fields["id_token_hint"] == other_tokens["id_token"]
    await assert_signed_in(db, user, auth_client)


async def test_end_session_without_any_parameter_asks_for_confirmation(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)

    response = await auth_client.get("/oauth/logout")

    fields = assert_confirmation_page(response)
    assert set(fields) == {"csrf_token"}
    assert "Do you want to sign out of MyAuthProvider?" in response.text
    await assert_signed_in(db, user, auth_client)


# --- No session at all ---


async def test_end_session_without_session_and_valid_hint_redirects(
    db: Database, auth_app: FastAPI, rp: TestClient, user: TestUser
) -> None:
    async with browser(auth_app) as earlier:
        _, tokens = await code_flow_tokens(earlier, rp, user)
    await db.run(lambda repos: repos.sessions.delete_all_for_user(user.id))
    url = logout_url(
        {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": STATE,
        }
    )

    async with browser(auth_app) as fresh:
        response = await fresh.get(url)

    assert_post_logout_redirect(response, POST_LOGOUT_URI, STATE)
    assert await db.count(AuditEvent, AuditEvent.event == "logout") == 0


async def test_end_session_without_session_or_parameters_shows_signed_out_page(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.get("/oauth/logout")

    assert response.status_code == 200, response.text
    assert "location" not in response.headers
    assert "You are signed out of MyAuthProvider." in response.text


async def test_end_session_without_session_still_refuses_unregistered_redirect_uri(
    db: Database, auth_app: FastAPI, rp: TestClient, user: TestUser
) -> None:
    async with browser(auth_app) as earlier:
        _, tokens = await code_flow_tokens(earlier, rp, user)
    url = logout_url(
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"}
    )

    async with browser(auth_app) as fresh:
        response = await fresh.get(url)

    assert_error_page(
        response, page_error_text("post_logout_redirect_uri is not registered for this client")
    )


# --- The pages cannot be framed (RFC 9700 §4.16) ---


async def test_end_session_pages_carry_anti_framing_headers(
    auth_client: httpx.AsyncClient, rp: TestClient, user: TestUser, id_token: str
) -> None:
    confirmation = await auth_client.get(logout_url({"client_id": rp.client_id}))
    error = await auth_client.get(logout_url({"post_logout_redirect_uri": POST_LOGOUT_URI}))
    redirect = await auth_client.get(
        logout_url({"id_token_hint": id_token, "post_logout_redirect_uri": POST_LOGOUT_URI})
    )
    signed_out = await auth_client.get("/oauth/logout")

    assert_confirmation_page(confirmation)
    assert_error_page(error, "post_logout_redirect_uri needs id_token_hint or client_id")
    assert redirect.status_code == 303
    assert "You are signed out of MyAuthProvider." in signed_out.text
    for response in (confirmation, error, redirect, signed_out):
        assert response.headers["x-frame-options"] == "DENY"
        assert_page_security_headers(response)
