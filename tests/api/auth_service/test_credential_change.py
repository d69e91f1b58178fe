"""A changed credential ends what the old one protected: the other sessions, every grant and its
refresh tokens, and (through the revocation feed) its access tokens (issue 13, part 3; ASVS 5.0
V7.4.3, V7.2.4; RFC 9700 section 4.14.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col

from auth_service.oauth.revocation import DENY_MARGIN
from shared.models import (
    AuditEvent,
    AuthorizationCode,
    Consent,
    Grant,
    RecoveryCode,
    RefreshToken,
    RevocationEvent,
    User,
    UserSession,
)
from tests.factories import TestClient, TestUser, make_client, make_user
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, csrf_from, exchange_code, get_code, tokens_for
from tests.support.pages import (
    SESSION_COOKIE,
    assert_client_code,
    assert_client_error,
    set_cookie,
    sha256_hex,
    sign_in,
)
from tests.support.portal import audit_events, browser, page_error, signed_in, submit
from tests.support.token_endpoint import refresh
from tests.support.two_step import (
    Enrolment,
    enrol,
    key_from,
    recovery_codes_from,
    submit_code,
    totp_code,
)

PASSWORD = "Account-Pa55phrase-4b2c"  # noqa: S105 - test credential
NEW_PASSWORD = "Brand-New-Pa55phrase-77"  # noqa: S105 - test credential
SIGNED_OUT = "You were signed out everywhere else, and apps you use must sign in again."
RECHECK_FAILED = "Your password is not right."


@pytest.fixture
async def user(db: Database) -> TestUser:
    return await make_user(db, username="ada", email="ada@example.com", password=PASSWORD)


@pytest.fixture
async def notes_app(db: Database) -> TestClient:
    return await make_client(db, name="Notes App")


@pytest.fixture
async def mail_app(db: Database) -> TestClient:
    return await make_client(db, name="Mail App")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def connect(
    auth: httpx.AsyncClient, client: TestClient, user: TestUser, scope: str
) -> dict[str, Any]:
    return await tokens_for(auth, AuthorizationRequest(client, scope=scope), user)


async def change_password(auth: httpx.AsyncClient) -> httpx.Response:
    data = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    return await submit(auth, "/account", "/account/password", data)


async def live_grants(db: Database, user: TestUser) -> list[Grant]:
    return list(await db.all(Grant, Grant.user_id == user.id, col(Grant.revoked_at).is_(None)))


async def assert_everything_ended(
    db: Database, user: TestUser, kept_session: str, since: datetime, until: datetime
) -> list[Grant]:
    """Only `kept_session` is left of the user's sessions; every grant and refresh token of the
    user is revoked, and each family still holding access tokens is published. Returns them."""
    sessions = await db.all(UserSession, UserSession.user_id == user.id)
    assert [s.id_hash for s in sessions] == [sha256_hex(kept_session)]
    grants = list(await db.all(Grant, Grant.user_id == user.id))
    assert grants
    for grant in grants:
        assert grant.revoked_at is not None and since <= grant.revoked_at <= until
    tokens = await db.all(RefreshToken, col(RefreshToken.grant_id).in_([g.id for g in grants]))
    assert tokens
    assert all(t.revoked_at is not None for t in tokens)
    events = await db.all(RevocationEvent, col(RevocationEvent.value).in_([g.id for g in grants]))
    expected = {
        ("grant", g.id, g.access_expires_at + DENY_MARGIN)
        for g in grants
        if g.access_expires_at is not None
    }
    assert {(e.kind, e.value, e.expires_at) for e in events} == expected
    return grants


# --- Password change ---


async def test_password_change_revokes_every_grant_and_ends_every_other_session(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    clock: TestClock,
    notes_app: TestClient,
    mail_app: TestClient,
    user: TestUser,
) -> None:
    await connect(auth_client, notes_app, user, "openid profile offline_access")
    await connect(auth_client, mail_app, user, "openid email offline_access")
    bob = await make_user(db, username="bob")
    async with signed_in(auth_app, user) as elsewhere, browser(auth_app) as bobs:
        bobs_tokens = await connect(bobs, notes_app, bob, "openid offline_access")
        before = clock()

        response = await change_password(auth_client)

        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/account?message=password"
        kept = set_cookie(response, SESSION_COOKIE)["value"]
        await assert_everything_ended(db, user, kept, before, clock())
        assert (await elsewhere.get("/account")).status_code == 303
        # Bob's grant of the same app is his own: untouched.
        assert (await refresh(bobs, notes_app, bobs_tokens["refresh_token"])).status_code == 200
    # Consents go: an app the old password's holder allowed must ask the owner again.
    assert await db.all(Consent, Consent.user_id == user.id) == []
    assert await db.count(Consent, Consent.user_id == bob.id) == 1
    (event,) = await audit_events(db, "password_changed")
    assert (event.user_id, event.details) == (user.id, {"grants_revoked": 2})
    page = await auth_client.get(response.headers["location"])
    assert page.status_code == 200
    assert f"Your password was changed. {SIGNED_OUT}" in page.text


async def test_password_change_makes_refresh_tokens_invalid_grant_at_the_token_endpoint(
    auth_client: httpx.AsyncClient, notes_app: TestClient, user: TestUser
) -> None:
    first = await connect(auth_client, notes_app, user, "openid offline_access")
    second = await connect(auth_client, notes_app, user, "openid profile offline_access")
    rotated = (await refresh(auth_client, notes_app, second["refresh_token"])).json()

    assert (await change_password(auth_client)).status_code == 303

    for refresh_token in (first["refresh_token"], rotated["refresh_token"]):
        response = await refresh(auth_client, notes_app, refresh_token)
        assert_oauth_error(response, "invalid_grant", description="refresh token was revoked")


async def test_password_change_outstanding_code_cannot_be_redeemed(
    auth_client: httpx.AsyncClient, notes_app: TestClient, user: TestUser
) -> None:
    request = AuthorizationRequest(notes_app, scope="openid profile")
    code = await get_code(auth_client, request, user)

    assert (await change_password(auth_client)).status_code == 303

    response = await exchange_code(auth_client, request, code)
    assert_oauth_error(response, "invalid_grant", description="the authorization was revoked")


async def test_password_change_app_allowed_before_gets_no_code_without_asking_again(
    db: Database, auth_client: httpx.AsyncClient, notes_app: TestClient, user: TestUser
) -> None:
    """Whoever held the old password may have allowed an app of their own: after the change a
    `prompt=none` request for it is answered consent_required, not with a silent code."""
    await connect(auth_client, notes_app, user, "openid profile offline_access")
    silent = AuthorizationRequest(notes_app, scope="openid profile", extra={"prompt": "none"})
    assert_client_code(
        await auth_client.get(silent.url()), notes_app.redirect_uri, state=silent.state
    )
    codes_before = await db.count(AuthorizationCode)

    assert (await change_password(auth_client)).status_code == 303

    again = AuthorizationRequest(notes_app, scope="openid profile", extra={"prompt": "none"})
    response = await auth_client.get(again.url())
    assert_client_error(
        response,
        notes_app.redirect_uri,
        "consent_required",
        "the user has not consented to these scopes",
        state=again.state,
    )
    assert await db.count(AuthorizationCode) == codes_before
    assert await db.count(Consent, Consent.user_id == user.id) == 0


async def test_password_change_resource_api_refuses_the_access_tokens_after_next_poll(
    auth_client: httpx.AsyncClient,
    notes_app: TestClient,
    mail_app: TestClient,
    user: TestUser,
    db: Database,
    auth_app: FastAPI,
    resource_app: FastAPI,  # after the factories: its background polls hold the write lock
    resource_client: httpx.AsyncClient,
) -> None:
    notes = await connect(auth_client, notes_app, user, "openid profile")
    mail = await connect(auth_client, mail_app, user, "openid profile")
    bob = await make_user(db, username="bob")
    async with browser(auth_app) as bobs_browser:
        bobs = await connect(bobs_browser, notes_app, bob, "openid profile")
    for tokens in (notes, mail, bobs):
        accepted = await resource_client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
        assert accepted.status_code == 200, accepted.text

    assert (await change_password(auth_client)).status_code == 303
    assert await resource_app.state.revocation_feed.poll() is True

    for tokens in (notes, mail):
        refused = await resource_client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
        assert_oauth_error(
            refused, "invalid_token", status=401, description="the access token was revoked"
        )
        assert refused.headers["www-authenticate"].startswith("Bearer ")
    other = await resource_client.get("/api/v1/me", headers=bearer(bobs["access_token"]))
    assert other.status_code == 200, other.text


async def test_password_change_with_wrong_current_password_ends_nothing(
    db: Database, auth_client: httpx.AsyncClient, notes_app: TestClient, user: TestUser
) -> None:
    tokens = await connect(auth_client, notes_app, user, "openid offline_access")
    session = auth_client.cookies[SESSION_COOKIE]

    response = await submit(
        auth_client,
        "/account",
        "/account/password",
        {"current_password": "not my password", "new_password": NEW_PASSWORD},
    )

    assert response.status_code == 400
    assert SESSION_COOKIE not in response.cookies
    assert len(await live_grants(db, user)) == 1
    assert await db.count(RevocationEvent) == 0
    assert await db.get(UserSession, sha256_hex(session)) is not None
    assert (await refresh(auth_client, notes_app, tokens["refresh_token"])).status_code == 200


# --- Two-step verification on, off, new recovery codes ---


async def test_two_factor_on_needs_the_current_password_and_stays_off_without_it(
    db: Database, auth_client: httpx.AsyncClient, notes_app: TestClient, user: TestUser,
    clock: TestClock,
) -> None:  # fmt: skip
    await connect(auth_client, notes_app, user, "openid offline_access")
    page = await auth_client.get("/account/two-factor")
    assert 'name="current_password"' in page.text
    secret = key_from(page)

    for password in ("", "not my password"):
        response = await auth_client.post(
            "/account/two-factor",
            data={
                "code": totp_code(secret, clock()),
                "current_password": password,
                "csrf_token": csrf_from(page.text),
            },
        )
        assert response.status_code == 400
        assert page_error(response) == RECHECK_FAILED
        assert key_from(response) == secret
    row = await db.get(User, user.id)
    assert row is not None and row.totp_enabled_at is None
    assert await db.count(RecoveryCode) == 0
    assert len(await live_grants(db, user)) == 1
    assert len(await audit_events(db, "second_factor_enrol_failed")) == 2


async def test_two_factor_on_password_guessing_is_throttled_with_retry_after(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, clock: TestClock
) -> None:
    await sign_in(auth_client, user)
    page = await auth_client.get("/account/two-factor")
    secret = key_from(page)

    def attempt(password: str) -> dict[str, str]:
        return {
            "code": totp_code(secret, clock()),
            "current_password": password,
            "csrf_token": csrf_from(page.text),
        }

    for _ in range(5):  # the 3rd failure starts a 1 s wait, the 5th makes it 4 s
        response = await auth_client.post("/account/two-factor", data=attempt("wrong password"))
        assert response.status_code in (400, 429)
    response = await auth_client.post("/account/two-factor", data=attempt(PASSWORD))

    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert (page_error(response) or "").startswith("Too many attempts. Try again in ")
    row = await db.get(User, user.id)
    assert row is not None and row.totp_enabled_at is None


async def test_two_factor_on_rotates_the_session_and_revokes_every_grant(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    clock: TestClock,
    notes_app: TestClient,
    user: TestUser,
) -> None:
    tokens = await connect(auth_client, notes_app, user, "openid offline_access")
    old_session = auth_client.cookies[SESSION_COOKIE]
    async with signed_in(auth_app, user) as elsewhere:
        page = await auth_client.get("/account/two-factor")
        before = clock()

        response = await auth_client.post(
            "/account/two-factor",
            data={
                "code": totp_code(key_from(page), clock()),
                "current_password": PASSWORD,
                "csrf_token": csrf_from(page.text),
            },
        )

        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert len(recovery_codes_from(response)) == 10
        assert f"Two-step verification is on. {SIGNED_OUT}" in response.text
        kept = set_cookie(response, SESSION_COOKIE)["value"]
        assert kept != old_session
        await assert_everything_ended(db, user, kept, before, clock())
        assert (await elsewhere.get("/account")).status_code == 303
    assert (await auth_client.get("/account")).status_code == 200
    response = await refresh(auth_client, notes_app, tokens["refresh_token"])
    assert_oauth_error(response, "invalid_grant", description="refresh token was revoked")
    (event,) = await audit_events(db, "second_factor_enrolled")
    assert event.details == {"grants_revoked": 1}


async def signed_in_with_both_steps(
    auth: httpx.AsyncClient, user: TestUser, enrolment: Enrolment, clock: TestClock
) -> None:
    await sign_in_password_step(auth, user)
    assert (await submit_code(auth, totp_code(enrolment.secret, clock()))).status_code == 303


async def test_two_factor_off_rotates_the_session_and_revokes_every_grant(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    clock: TestClock,
    notes_app: TestClient,
    user: TestUser,
) -> None:
    enrolment = await enrol_in_own_browser(auth_app, user, clock)
    await signed_in_with_both_steps(auth_client, user, enrolment, clock)
    tokens = await connect(auth_client, notes_app, user, "openid offline_access")
    before = clock()

    response = await submit(
        auth_client, "/account", "/account/two-factor/disable", {"current_password": PASSWORD}
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/account?message=second-factor-off"
    kept = set_cookie(response, SESSION_COOKIE)["value"]
    await assert_everything_ended(db, user, kept, before, clock())
    response = await refresh(auth_client, notes_app, tokens["refresh_token"])
    assert_oauth_error(response, "invalid_grant", description="refresh token was revoked")
    (event,) = await audit_events(db, "second_factor_removed")
    assert event.details == {"grants_revoked": 1}


async def enrol_in_own_browser(app: FastAPI, user: TestUser, clock: TestClock) -> Enrolment:
    async with browser(app) as setup:
        await sign_in(setup, user)
        return await enrol(setup, clock, PASSWORD)


async def test_recovery_codes_renewal_replaces_the_codes_and_ends_everything_else(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    clock: TestClock,
    notes_app: TestClient,
    user: TestUser,
) -> None:
    enrolment = await enrol_in_own_browser(auth_app, user, clock)
    await signed_in_with_both_steps(auth_client, user, enrolment, clock)
    await connect(auth_client, notes_app, user, "openid offline_access")
    account = await auth_client.get("/account")
    assert 'action="/account/two-factor/recovery-codes"' in account.text
    before = clock()

    response = await auth_client.post(
        "/account/two-factor/recovery-codes",
        data={"current_password": PASSWORD, "csrf_token": csrf_from(account.text)},
    )

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert f"Your old recovery codes no longer work. {SIGNED_OUT}" in response.text
    codes = recovery_codes_from(response)
    assert len(codes) == 10 and not set(codes) & set(enrolment.recovery_codes)
    rows = await db.all(RecoveryCode, RecoveryCode.user_id == user.id)
    assert len(rows) == 10 and all(r.used_at is None for r in rows)
    kept = set_cookie(response, SESSION_COOKIE)["value"]
    await assert_everything_ended(db, user, kept, before, clock())
    (event,) = await audit_events(db, "recovery_codes_renewed")
    assert event.details == {"grants_revoked": 1}
    # An old code no longer signs in; a new one does.
    async with browser(auth_app) as other:
        await sign_in_password_step(other, user)
        assert (await submit_code(other, enrolment.recovery_codes[0])).status_code == 400
        assert (await submit_code(other, codes[0])).status_code == 303


async def sign_in_password_step(auth: httpx.AsyncClient, user: TestUser) -> None:
    page = await auth.get("/login")
    response = await auth.post(
        "/login",
        data={
            "username": user.username,
            "password": user.password,
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 303, response.text


async def test_recovery_codes_renewal_with_wrong_password_keeps_the_old_codes(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, clock: TestClock,
    user: TestUser,
) -> None:  # fmt: skip
    enrolment = await enrol_in_own_browser(auth_app, user, clock)
    await signed_in_with_both_steps(auth_client, user, enrolment, clock)
    before = {r.code_hash for r in await db.all(RecoveryCode)}
    sessions = await db.count(UserSession)

    response = await submit(
        auth_client,
        "/account",
        "/account/two-factor/recovery-codes",
        {"current_password": "not my password"},
    )

    assert response.status_code == 400
    assert page_error(response) == RECHECK_FAILED
    assert SESSION_COOKIE not in response.cookies
    assert {r.code_hash for r in await db.all(RecoveryCode)} == before
    assert await db.count(UserSession) == sessions
    assert await db.all(AuditEvent, AuditEvent.event == "recovery_codes_renewed") == []


async def test_recovery_codes_renewal_without_second_factor_changes_nothing(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    account = await auth_client.get("/account")
    assert "/account/two-factor/recovery-codes" not in account.text

    response = await auth_client.post(
        "/account/two-factor/recovery-codes",
        data={"current_password": PASSWORD, "csrf_token": csrf_from(account.text)},
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    assert await db.count(RecoveryCode) == 0
