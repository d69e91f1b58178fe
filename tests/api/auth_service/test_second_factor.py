"""Two-step verification: TOTP (RFC 6238) enrolment with recovery codes, and the login step after
the password (issue 5, "Accounts"; RFC 6238 §5.2 replay)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import stat
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.security.secret_box import KEY_FILE, SecretBox
from shared.models import Grant, RecoveryCode, User, UserSession
from tests.factories import TestClient, TestUser, make_client
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, csrf_from, login
from tests.support.lifecycle import password_grant
from tests.support.pages import (
    SESSION_COOKIE,
    answer_consent,
    assert_client_code,
    assert_step_redirect,
    set_cookie,
    sha256_hex,
    sign_in,
    start_authorization,
)
from tests.support.portal import FORM_EXPIRED, audit_events, browser, database_text, page_error
from tests.support.throttle_clock import manual_throttle_clock
from tests.support.two_step import (
    Enrolment,
    enrol,
    key_from,
    recovery_codes_from,
    submit_code,
    totp_code,
    wrong_code,
)

SETUP = "/account/two-factor"
CODE_FAILED = "That code is not right. Try the current code from your app, or a recovery code."
SETUP_FAILED = "That code is not right. Check the time on your phone and try the current code."
RECOVERY_CODE = re.compile(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}")
RECOVERY_KEY_LABEL = b"myauth recovery-code digest v1"


def recovery_code_key(settings: AuthSettings) -> bytes:
    """The recovery-code HMAC key, derived here independently: HKDF-Expand-SHA256 (RFC 5869
    section 2.3) of the key directory's random data-encryption key with the documented label."""
    data_key = base64.urlsafe_b64decode((settings.key_dir / KEY_FILE).read_bytes().strip())
    expand = HKDFExpand(algorithm=hashes.SHA256(), length=32, info=RECOVERY_KEY_LABEL)
    return expand.derive(data_key)


def hmac_hex(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


async def user_row(db: Database, user: TestUser) -> User:
    row = await db.get(User, user.id)
    assert row is not None
    return row


@pytest.fixture
async def enrolled(auth_app: FastAPI, user: TestUser, clock: TestClock) -> Enrolment:
    """`user` with TOTP on, enrolled in a browser of its own; the test's browser is signed out."""
    async with browser(auth_app) as setup_browser:
        await sign_in(setup_browser, user)
        return await enrol(setup_browser, clock, user.password)


def second_factor_location(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    parts = urlsplit(response.headers["location"])
    assert parts.path == "/login/second-factor", response.headers["location"]
    return dict(parse_qsl(parts.query, keep_blank_values=True))


# --- Enrolment ---


async def test_two_factor_setup_without_session_redirects_to_login(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.get(SETUP)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account/two-factor"


async def test_two_factor_setup_page_shows_qr_code_and_key_stored_encrypted(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, settings: AuthSettings
) -> None:
    await sign_in(auth_client, user)

    page = await auth_client.get(SETUP)

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert re.search(r'<img class="qr" src="data:image/svg\+xml[^"]+"', page.text)
    secret = key_from(page)
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)  # 160 bits (RFC 4226 §4)
    assert csrf_from(page.text)
    row = await user_row(db, user)
    assert row.totp_enabled_at is None
    assert row.totp_secret is not None
    assert secret not in row.totp_secret
    assert SecretBox.load_or_create(settings.key_dir).decrypt(row.totp_secret) == secret


async def test_two_factor_setup_page_shown_again_keeps_the_pending_key(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    """A reload or a second tab must not invalidate the key the user already scanned."""
    await sign_in(auth_client, user)
    first = key_from(await auth_client.get(SETUP))
    stored = (await user_row(db, user)).totp_secret

    again = await auth_client.get(SETUP)

    assert again.status_code == 200
    assert key_from(again) == first
    assert (await user_row(db, user)).totp_secret == stored


async def test_two_factor_confirm_with_wrong_code_returns_400_and_stays_off(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, clock: TestClock
) -> None:
    await sign_in(auth_client, user)
    page = await auth_client.get(SETUP)
    secret = key_from(page)

    response = await auth_client.post(
        SETUP,
        data={
            "code": wrong_code(secret, clock()),
            "current_password": user.password,
            "csrf_token": csrf_from(page.text),
        },
    )

    assert response.status_code == 400
    assert page_error(response) == SETUP_FAILED
    assert key_from(response) == secret  # the same pending key, to try again
    row = await user_row(db, user)
    assert row.totp_enabled_at is None
    assert await db.count(RecoveryCode) == 0


async def test_two_factor_confirm_with_non_ascii_digits_returns_400_not_500(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    page = await auth_client.get(SETUP)

    response = await auth_client.post(
        SETUP,
        data={
            "code": "１２３４５６",
            "current_password": user.password,
            "csrf_token": csrf_from(page.text),
        },
    )

    # Security rules, "Availability": never a 500 for bad input.
    assert response.status_code == 400, response.text
    assert page_error(response) == SETUP_FAILED
    assert (await user_row(db, user)).totp_enabled_at is None


async def test_two_factor_confirm_without_csrf_token_returns_400_and_stays_off(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, clock: TestClock
) -> None:
    await sign_in(auth_client, user)
    secret = key_from(await auth_client.get(SETUP))

    response = await auth_client.post(
        SETUP, data={"code": totp_code(secret, clock()), "current_password": user.password}
    )

    assert response.status_code == 400
    assert page_error(response) == FORM_EXPIRED
    assert (await user_row(db, user)).totp_enabled_at is None


async def test_two_factor_confirm_with_right_code_enables_and_shows_ten_recovery_codes_once(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    await sign_in(auth_client, user)
    page = await auth_client.get(SETUP)
    secret = key_from(page)
    now = clock()

    response = await auth_client.post(
        SETUP,
        data={
            "code": totp_code(secret, now),
            "current_password": user.password,
            "csrf_token": csrf_from(page.text),
        },
    )

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    codes = recovery_codes_from(response)
    assert len(codes) == 10 == len(set(codes))
    assert all(RECOVERY_CODE.fullmatch(code) for code in codes), codes
    row = await user_row(db, user)
    assert row.totp_enabled_at is not None
    assert abs(row.totp_enabled_at - now) < timedelta(seconds=5)
    # Only keyed digests of the codes (without dashes) are kept: HMAC-SHA256 of the user id and
    # the code, under a key derived from the key directory's data key (never bare SHA-256).
    rows = await db.all(RecoveryCode, RecoveryCode.user_id == user.id)
    key = recovery_code_key(settings)
    assert {r.code_hash for r in rows} == {
        hmac_hex(key, f"{user.id}\x00{c.replace('-', '')}") for c in codes
    }
    assert not {r.code_hash for r in rows} & {sha256_hex(c.replace("-", "")) for c in codes}
    assert all(r.used_at is None for r in rows)
    stored = await database_text(db)
    assert not any(code in stored or code.replace("-", "") in stored for code in codes)
    # The seed is encrypted at rest under a key file only the owner can read.
    assert row.totp_secret is not None and secret not in stored
    key_file = settings.key_dir / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [e.user_id for e in await audit_events(db, "second_factor_enrolled")] == [user.id]
    # Shown once: the setup page now sends the user back to the account page.
    again = await auth_client.get(SETUP)
    assert again.status_code == 303
    assert again.headers["location"] == "/account"
    account = await auth_client.get("/account")
    assert "/account/two-factor/disable" in account.text
    assert not any(code in account.text for code in codes)


# --- Login with a second factor ---


async def test_login_with_second_factor_stops_at_code_step_without_logging_in(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    enrolled: Enrolment,
    clock: TestClock,
) -> None:
    response = await login(auth_client, user)

    assert second_factor_location(response) == {"request_id": "", "next": ""}
    cookie = set_cookie(response, SESSION_COOKIE)["value"]
    pending = await db.get(UserSession, sha256_hex(cookie))
    assert pending is not None
    assert pending.second_factor_pending is True
    assert pending.expires_at - clock() <= timedelta(seconds=300)
    account = await auth_client.get("/account")
    assert account.status_code == 303
    assert account.headers["location"] == "/login?next=/account"
    page = await auth_client.get("/login/second-factor")
    assert page.status_code == 200
    assert 'name="code"' in page.text


async def test_login_second_factor_right_code_completes_login_with_new_session(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    enrolled: Enrolment,
    clock: TestClock,
) -> None:
    half = set_cookie(await login(auth_client, user), SESSION_COOKIE)["value"]

    response = await submit_code(auth_client, totp_code(enrolled.secret, clock()))

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    full = set_cookie(response, SESSION_COOKIE)["value"]
    assert full != half
    assert await db.get(UserSession, sha256_hex(half)) is None
    session = await db.get(UserSession, sha256_hex(full))
    assert session is not None
    assert (session.user_id, session.second_factor_pending, session.amr) == (
        user.id,
        False,
        "pwd otp",
    )
    assert (await auth_client.get("/account")).status_code == 200
    # The enrolment's password-only login is the other row.
    events = await audit_events(db, "login_succeeded")
    assert [(e.user_id, e.details) for e in events][-1] == (user.id, {"second_factor": "otp"})
    assert [e.user_id for e in await audit_events(db, "login_password_ok")] == [user.id]


async def test_login_second_factor_continues_the_authorization_request_to_consent(
    db: Database,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
    enrolled: Enrolment,
    clock: TestClock,
) -> None:
    request = AuthorizationRequest(confidential_client)
    request_id = await start_authorization(auth_client, request)
    response = await login(auth_client, user, request_id=request_id)
    assert second_factor_location(response) == {"request_id": request_id, "next": ""}

    response = await submit_code(
        auth_client, totp_code(enrolled.secret, clock()), request_id=request_id
    )

    assert assert_step_redirect(response, "/consent") == request_id
    page = await auth_client.get(response.headers["location"])
    assert page.status_code == 200
    redirect = await answer_consent(auth_client, request_id, page, "allow")
    assert assert_client_code(redirect, request.redirect_uri, state=request.state)


async def test_login_second_factor_same_code_twice_is_refused_as_replay(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    enrolled: Enrolment,
    clock: TestClock,
) -> None:
    code = totp_code(enrolled.secret, clock())  # start_next_step left ~29 s in this step
    await login(auth_client, user)
    assert (await submit_code(auth_client, code)).status_code == 303

    async with browser(auth_app, ip="10.0.0.2") as attacker:
        half = set_cookie(await login(attacker, user), SESSION_COOKIE)["value"]
        response = await submit_code(attacker, code)

    # RFC 6238 §5.2: a verifier must not accept the same OTP twice.
    assert response.status_code == 400
    assert page_error(response) == CODE_FAILED
    assert SESSION_COOKIE not in response.cookies
    pending = await db.get(UserSession, sha256_hex(half))
    assert pending is not None and pending.second_factor_pending is True


async def test_login_second_factor_code_of_an_earlier_step_after_a_later_one_is_refused(
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    enrolled: Enrolment,
    clock: TestClock,
) -> None:
    await login(auth_client, user)
    later = totp_code(enrolled.secret, clock(), steps=1)  # drift allows one step ahead
    assert (await submit_code(auth_client, later)).status_code == 303

    async with browser(auth_app) as other:
        await login(other, user)
        response = await submit_code(other, totp_code(enrolled.secret, clock()))

    assert response.status_code == 400
    assert page_error(response) == CODE_FAILED


async def test_login_second_factor_recovery_code_works_once(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    enrolled: Enrolment,
    settings: AuthSettings,
) -> None:
    code = enrolled.recovery_codes[3]
    await login(auth_client, user)

    # Typed loosely: upper case and surrounding spaces are forgiven.
    response = await submit_code(auth_client, f"  {code.upper()} ")

    assert response.status_code == 303
    session = await db.get(UserSession, sha256_hex(set_cookie(response, SESSION_COOKIE)["value"]))
    assert session is not None and session.amr == "pwd"
    digest = hmac_hex(recovery_code_key(settings), f"{user.id}\x00{code.replace('-', '')}")
    used = await db.get(RecoveryCode, digest)
    assert used is not None and used.used_at is not None
    assert [r.used_at is None for r in await db.all(RecoveryCode)].count(True) == 9
    async with browser(auth_app) as other:
        await login(other, user)
        again = await submit_code(other, code)
        assert again.status_code == 400
        assert page_error(again) == CODE_FAILED
        another = await submit_code(other, enrolled.recovery_codes[4])
        assert another.status_code == 303


async def test_login_second_factor_wrong_codes_are_throttled_with_growing_delay(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    enrolled: Enrolment,
    clock: TestClock,
    settings: AuthSettings,
) -> None:
    throttle_clock = manual_throttle_clock(auth_app)
    await login(auth_client, user)
    bad = wrong_code(enrolled.secret, clock())
    for _ in range(settings.failures_before_delay):
        assert (await submit_code(auth_client, bad)).status_code == 400

    refused = await submit_code(auth_client, totp_code(enrolled.secret, clock()))

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert page_error(refused) == "Too many attempts. Try again in 1 second."
    assert (await db.get(UserSession, sha256_hex(auth_client.cookies[SESSION_COOKIE]))) is not None
    throttle_clock.advance(1)
    assert (await submit_code(auth_client, bad)).status_code == 400
    assert (await submit_code(auth_client, bad)).headers["retry-after"] == "2"
    throttle_clock.advance(2)
    assert (await submit_code(auth_client, bad)).status_code == 400
    assert (await submit_code(auth_client, bad)).headers["retry-after"] == "4"
    # The delay always ends: the right code then works.
    throttle_clock.advance(4)
    done = await submit_code(auth_client, totp_code(enrolled.secret, clock()))
    assert done.status_code == 303
    assert len(await audit_events(db, "second_factor_failed")) == settings.failures_before_delay + 2


@pytest.mark.parametrize(
    "code",
    ["１２３４５６", "١٢٣٤٥٦", "12345", "x" * 64, "", "0000000000000000000000000000"],
    ids=["fullwidth-digits", "arabic-indic-digits", "short", "long", "empty", "too-many-digits"],
)
async def test_login_second_factor_malformed_code_is_refused_not_a_500(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, enrolled: Enrolment, code: str
) -> None:
    await login(auth_client, user)

    response = await submit_code(auth_client, code)

    # Security rules, "Availability": bad input of any shape is a 4xx, never a 500.
    # Non-ASCII digits pass str.isdigit() and then make secrets.compare_digest raise TypeError.
    assert response.status_code == 400, response.text
    assert page_error(response) == CODE_FAILED


async def test_login_second_factor_half_session_expires_after_five_minutes(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    enrolled: Enrolment,
    clock: TestClock,
) -> None:
    full_sessions = await db.count(UserSession)  # the enrolment browser's
    half = set_cookie(await login(auth_client, user), SESSION_COOKIE)["value"]
    form = await auth_client.get("/login/second-factor")
    clock.advance(301)

    response = await auth_client.post(
        "/login/second-factor",
        data={
            "code": totp_code(enrolled.secret, clock()),
            "request_id": "",
            "csrf_token": csrf_from(form.text),
        },
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/login?request_id="
    assert SESSION_COOKIE not in response.cookies
    assert await db.count(UserSession) == full_sessions + 1  # nothing new beside the half
    page = await auth_client.get("/login/second-factor")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?")
    assert auth_client.cookies[SESSION_COOKIE] == half
    assert (await auth_client.get("/account")).status_code == 303


async def test_login_second_factor_without_password_step_redirects_to_login(
    auth_client: httpx.AsyncClient, enrolled: Enrolment, clock: TestClock
) -> None:
    response = await auth_client.post(
        "/login/second-factor", data={"code": totp_code(enrolled.secret, clock())}
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/login?request_id="


async def test_login_second_factor_full_session_cookie_cannot_skip_to_code_step(
    auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    # Without an enrolled factor the password logs in; the code page is not for full sessions.
    await sign_in(auth_client, user)

    response = await auth_client.get("/login/second-factor")

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?")


# --- Turning it off ---


async def account_csrf_after_both_steps(
    auth: httpx.AsyncClient, user: TestUser, enrolled: Enrolment, clock: TestClock
) -> str:
    """Sign in with password and code; the account page's CSRF token."""
    await login(auth, user)
    assert (await submit_code(auth, totp_code(enrolled.secret, clock()))).status_code == 303
    return csrf_from((await auth.get("/account")).text)


async def test_two_factor_disable_needs_the_password(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    enrolled: Enrolment,
    clock: TestClock,
) -> None:
    csrf = await account_csrf_after_both_steps(auth_client, user, enrolled, clock)

    response = await auth_client.post(
        "/account/two-factor/disable",
        data={"current_password": "not the password", "csrf_token": csrf},
    )

    assert response.status_code == 400
    assert page_error(response) == "Your password is not right."
    row = await user_row(db, user)
    assert row.totp_enabled_at is not None and row.totp_secret is not None
    assert await db.count(RecoveryCode) == 10


async def test_two_factor_disable_password_guessing_is_slowed(
    db: Database,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    enrolled: Enrolment,
    clock: TestClock,
) -> None:
    csrf = await account_csrf_after_both_steps(auth_client, user, enrolled, clock)
    for _ in range(5):
        await auth_client.post(
            "/account/two-factor/disable", data={"current_password": "guess", "csrf_token": csrf}
        )

    response = await auth_client.post(
        "/account/two-factor/disable",
        data={"current_password": user.password, "csrf_token": csrf},
    )

    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert (await user_row(db, user)).totp_enabled_at is not None


async def test_two_factor_disable_with_password_removes_secret_and_codes(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    user: TestUser,
    enrolled: Enrolment,
    clock: TestClock,
) -> None:
    csrf = await account_csrf_after_both_steps(auth_client, user, enrolled, clock)

    response = await auth_client.post(
        "/account/two-factor/disable",
        data={"current_password": user.password, "csrf_token": csrf},
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/account?message=second-factor-off"
    row = await user_row(db, user)
    assert (row.totp_secret, row.totp_enabled_at, row.totp_last_step) == (None, None, None)
    assert await db.count(RecoveryCode) == 0
    assert [e.user_id for e in await audit_events(db, "second_factor_removed")] == [user.id]
    async with browser(auth_app) as other:
        again = await login(other, user)
    assert again.status_code == 303
    assert again.headers["location"] == "/"


# --- The password grant ---


async def test_token_password_grant_refuses_user_with_second_factor_even_with_right_password(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser, enrolled: Enrolment
) -> None:
    client = await make_client(
        db, grant_types=["password", "refresh_token"], is_first_party=True, scope="profile"
    )

    response = await password_grant(
        auth_client, client, username=user.username, password=user.password
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "this account uses a second factor: sign in through the browser",
    }
    assert response.headers["cache-control"] == "no-store"
    assert await db.count(Grant) == 0
