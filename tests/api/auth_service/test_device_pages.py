"""/device (RFC 8628 §3.3): the code form, the usual sign-in, the consent that names the client,
verification_uri_complete that only pre-fills (§5.4), and wrong codes throttled per address (§5.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.clients.registry import ClientChanges, update_client
from auth_service.config import AuthSettings
from auth_service.oauth.device_authorization import DEVICE_CODE_GRANT
from auth_service.repositories import Repositories
from shared.models import AuditEvent, Consent, DeviceAuthorization, Grant
from tests.conftest import ISSUER
from tests.factories import TestClient, TestUser, make_client, make_user
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.device import (
    DEVICE_SCOPE,
    answer,
    consent_path,
    enter_code,
    open_device_consent,
    started,
)
from tests.support.flows import csrf_from, login
from tests.support.pages import assert_page_security_headers, page_error_text, sha256_hex
from tests.support.throttle_clock import ManualMonotonic, manual_throttle_clock

WRONG_CODE = "That code is not right. Check the code on your device and try again."
APPROVED = "This code was already used to allow a device. There is nothing more to do."
DENIED = "This code was denied. To sign in the device, start again on it."
EXPIRED = "This code has expired. Start again on your device to get a new code."
FORM_EXPIRED = "This form has expired. Please try again."
OFFICE, ELSEWHERE = "198.51.100.7", "203.0.113.9"


@pytest.fixture
def setting_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(settings: AuthSettings, setting_overrides: dict[str, Any]) -> AuthSettings:
    return settings.model_copy(update=setting_overrides)


@pytest.fixture
async def device_client(db: Database) -> TestClient:
    return await make_client(
        db,
        name="Notes CLI",
        redirect_uris=[],
        is_public=True,
        grant_types=[DEVICE_CODE_GRANT, "refresh_token"],
        scope=DEVICE_SCOPE,
    )


def phone(app: FastAPI, ip: str = OFFICE) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url=ISSUER)


@pytest.fixture
async def browser(auth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with phone(auth_app) as client:
        yield client


@pytest.fixture
async def codes(auth_client: httpx.AsyncClient, device_client: TestClient) -> dict[str, Any]:
    result: dict[str, Any] = await started(auth_client, device_client, "read:notes write:notes")
    return result


async def device_row(db: Database, codes: dict[str, Any]) -> DeviceAuthorization:
    row = await db.get(DeviceAuthorization, sha256_hex(codes["device_code"]))
    assert row is not None
    return row


async def assert_still_pending(db: Database, codes: dict[str, Any]) -> None:
    row = await device_row(db, codes)
    assert (row.status, row.user_id, row.grant_id, row.decided_at) == ("pending", None, None, None)
    assert await db.count(Grant) == 0
    assert await db.count(Consent) == 0


# --- The code form ---


async def test_device_page_asks_for_the_code_with_a_labelled_input(
    browser: httpx.AsyncClient,
) -> None:
    response = await browser.get("/device")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert_page_security_headers(response)
    html = response.text
    assert '<html lang="en">' in html
    assert 'name="viewport"' in html  # phone-friendly: the shared layout scales to the screen
    assert '<label for="user_code">' in html
    assert 'id="user_code" name="user_code"' in html
    assert 'name="csrf_token"' in html


async def test_device_page_from_verification_uri_complete_prefills_and_waits_for_confirmation(
    db: Database, browser: httpx.AsyncClient, codes: dict[str, Any]
) -> None:
    response = await browser.get(codes["verification_uri_complete"].removeprefix(ISSUER))

    assert response.status_code == 200
    assert f'value="{codes["user_code"]}"' in response.text
    assert "Check that this is the code your device shows" in response.text
    await assert_still_pending(db, codes)


async def test_device_code_typed_in_lower_case_with_spaces_leads_to_sign_in_then_consent(
    db: Database,
    browser: httpx.AsyncClient,
    codes: dict[str, Any],
    user: TestUser,
) -> None:
    typed = " " + codes["user_code"].lower().replace("-", " ") + " "

    entered = await enter_code(browser, typed)
    to_login = await browser.get(entered.headers["location"])

    assert entered.status_code == 303
    assert entered.headers["location"] == consent_path(codes["user_code"])
    assert to_login.status_code == 303
    next_path = httpx.URL(to_login.headers["location"]).params["next"]
    assert to_login.headers["location"].startswith("/login?")
    assert next_path == consent_path(codes["user_code"])
    await assert_still_pending(db, codes)


async def test_device_sign_in_returns_to_the_consent_step_through_next(
    browser: httpx.AsyncClient, codes: dict[str, Any], user: TestUser
) -> None:
    next_path = consent_path(codes["user_code"])
    page = await browser.get("/login", params={"next": next_path})

    response = await browser.post(
        "/login",
        data={
            "username": user.username,
            "password": user.password,
            "next": next_path,
            "csrf_token": csrf_from(page.text),
        },
    )

    assert response.status_code == 303
    assert response.headers["location"] == next_path


@pytest.mark.parametrize("typed", ["BCDF-GHJK", "BCDF-GHJ", "AEIO-UAEI", "x" * 200, ""])
async def test_device_wrong_or_malformed_code_is_refused_on_the_form(
    db: Database, browser: httpx.AsyncClient, codes: dict[str, Any], typed: str
) -> None:
    response = await enter_code(browser, typed)

    assert response.status_code == 400
    assert page_error_text(WRONG_CODE) in response.text
    await assert_still_pending(db, codes)


async def test_device_code_form_without_csrf_token_is_refused(
    db: Database, browser: httpx.AsyncClient, codes: dict[str, Any]
) -> None:
    await browser.get("/device")

    response = await browser.post("/device", data={"user_code": codes["user_code"]})

    assert response.status_code == 400
    assert page_error_text(FORM_EXPIRED) in response.text
    await assert_still_pending(db, codes)


# --- Throttling wrong codes per address (RFC 8628 §5.1) ---


@pytest.mark.parametrize("setting_overrides", [{"device_user_code_failures_before_delay": 2}])
async def test_device_wrong_codes_make_that_address_wait_and_not_others(
    db: Database, auth_app: FastAPI, codes: dict[str, Any]
) -> None:
    throttle_clock: ManualMonotonic = manual_throttle_clock(auth_app)
    async with phone(auth_app, OFFICE) as attacker, phone(auth_app, ELSEWHERE) as other:
        for _ in range(2):
            assert (await enter_code(attacker, "BCDF-GHJK")).status_code == 400
        # The second failure starts a wait: even the right code must wait for it to end.
        refused = await enter_code(attacker, codes["user_code"])
        elsewhere = await enter_code(other, codes["user_code"])
        throttle_clock.advance(1)
        later = await enter_code(attacker, codes["user_code"])

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert "Too many attempts. Try again in 1 second." in refused.text
    assert elsewhere.status_code == 303
    assert later.status_code == 303
    await assert_still_pending(db, codes)


# --- Consent (RFC 8628 §3.3, §5.4) ---


async def test_device_consent_names_the_client_shows_the_code_and_asks(
    browser: httpx.AsyncClient, codes: dict[str, Any], user: TestUser
) -> None:
    page = await open_device_consent(browser, user, codes["user_code"])

    html = page.text
    assert "Notes CLI" in html
    assert "a device is asking" in html
    assert f'<p class="user-code" aria-label="Code {codes["user_code"]}">' in html
    assert "Read your notes" in html
    assert '<button type="submit" name="allow" value="allow"' in html
    assert '<button type="submit" name="deny" value="deny"' in html
    assert 'name="csrf_token"' in html
    assert_page_security_headers(page)


async def test_device_allow_records_the_answer_a_grant_and_the_consent(
    db: Database, browser: httpx.AsyncClient, codes: dict[str, Any], user: TestUser
) -> None:
    page = await open_device_consent(browser, user, codes["user_code"])

    response = await answer(browser, page, codes["user_code"], "allow")

    assert response.status_code == 200
    assert "Go back to your device" in response.text
    row = await device_row(db, codes)
    (grant,) = await db.all(Grant)
    assert (row.status, row.user_id, row.grant_id) == ("approved", user.id, grant.id)
    assert row.auth_time is not None and row.decided_at is not None
    assert (grant.user_id, grant.scope, grant.revoked_at) == (
        user.id,
        "read:notes write:notes",
        None,
    )
    (consent,) = await db.all(Consent)
    assert consent.scopes == {"read:notes", "write:notes"}
    assert await db.count(AuditEvent, AuditEvent.event == "device_approved") == 1


async def test_device_deny_records_the_answer_and_starts_nothing(
    db: Database, browser: httpx.AsyncClient, codes: dict[str, Any], user: TestUser
) -> None:
    page = await open_device_consent(browser, user, codes["user_code"])

    response = await answer(browser, page, codes["user_code"], "deny")

    assert response.status_code == 200
    assert "will not get access" in response.text
    row = await device_row(db, codes)
    assert (row.status, row.user_id, row.grant_id) == ("denied", user.id, None)
    assert await db.count(Grant) == 0
    assert await db.count(Consent) == 0
    assert await db.count(AuditEvent, AuditEvent.event == "device_denied") == 1


async def test_device_consent_post_with_wrong_csrf_token_changes_nothing(
    db: Database, browser: httpx.AsyncClient, codes: dict[str, Any], user: TestUser
) -> None:
    await open_device_consent(browser, user, codes["user_code"])

    response = await browser.post(
        "/device/consent",
        data={"allow": "allow", "user_code": codes["user_code"], "csrf_token": "forged"},
    )

    assert response.status_code == 400
    assert page_error_text(FORM_EXPIRED) in response.text
    await assert_still_pending(db, codes)


async def test_device_consent_csrf_token_of_another_user_session_is_refused(
    db: Database, auth_app: FastAPI, codes: dict[str, Any], user: TestUser
) -> None:
    other = await make_user(db)
    async with phone(auth_app) as victim:
        page = await open_device_consent(victim, user, codes["user_code"])
        # The same browser signs in as someone else: the page's token was bound to the old session.
        await login(victim, other)
        response = await answer(victim, page, codes["user_code"], "allow")

    assert response.status_code == 400
    await assert_still_pending(db, codes)


async def test_device_consent_with_both_or_neither_button_changes_nothing(
    db: Database, browser: httpx.AsyncClient, codes: dict[str, Any], user: TestUser
) -> None:
    page = await open_device_consent(browser, user, codes["user_code"])
    token = csrf_from(page.text)

    both = await browser.post(
        "/device/consent",
        data={"allow": "1", "deny": "1", "user_code": codes["user_code"], "csrf_token": token},
    )
    neither = await browser.post(
        "/device/consent", data={"user_code": codes["user_code"], "csrf_token": token}
    )

    for response in (both, neither):
        assert response.status_code == 400
        assert page_error_text("Choose Allow or Deny.") in response.text
    await assert_still_pending(db, codes)


async def test_device_consent_post_without_a_session_goes_to_sign_in(
    db: Database, browser: httpx.AsyncClient, codes: dict[str, Any]
) -> None:
    response = await browser.post(
        "/device/consent", data={"allow": "allow", "user_code": codes["user_code"]}
    )

    assert response.status_code == 303
    assert httpx.URL(response.headers["location"]).params["next"] == consent_path(
        codes["user_code"]
    )
    await assert_still_pending(db, codes)


@pytest.mark.parametrize(("decision", "message"), [("allow", APPROVED), ("deny", DENIED)])
async def test_device_code_already_answered_shows_a_clear_message(
    db: Database,
    browser: httpx.AsyncClient,
    codes: dict[str, Any],
    user: TestUser,
    decision: str,
    message: str,
) -> None:
    page = await open_device_consent(browser, user, codes["user_code"])
    await answer(browser, page, codes["user_code"], decision)

    again = await enter_code(browser, codes["user_code"])
    second_answer = await answer(browser, page, codes["user_code"], "allow")

    for response in (again, second_answer):
        assert response.status_code == 400
        assert page_error_text(message) in response.text
    assert (await device_row(db, codes)).status == ("approved" if decision == "allow" else "denied")
    assert await db.count(Grant) == (1 if decision == "allow" else 0)


async def test_device_code_expired_shows_a_clear_message_and_cannot_be_allowed(
    db: Database,
    browser: httpx.AsyncClient,
    codes: dict[str, Any],
    user: TestUser,
    clock: TestClock,
) -> None:
    page = await open_device_consent(browser, user, codes["user_code"])
    clock.advance(601)

    entered = await enter_code(browser, codes["user_code"])
    allowed = await answer(browser, page, codes["user_code"], "allow")

    for response in (entered, allowed):
        assert response.status_code == 400
        assert page_error_text(EXPIRED) in response.text
    await assert_still_pending(db, codes)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param('{"user_code": "BCDF-GHJK"}', "application/json", id="json"),
        pytest.param("user_code=A&user_code=B", "application/x-www-form-urlencoded", id="repeated"),
        pytest.param(b"user_code=%ff", "application/x-www-form-urlencoded", id="not-utf-8"),
    ],
)
async def test_device_malformed_form_gets_our_error_page_and_changes_nothing(
    db: Database,
    browser: httpx.AsyncClient,
    codes: dict[str, Any],
    content: str | bytes,
    content_type: str,
) -> None:
    for path in ("/device", "/device/consent"):
        response = await browser.post(path, content=content, headers={"content-type": content_type})

        assert response.status_code == 400, path
        assert response.headers["content-type"].startswith("text/html")
        assert "invalid_request" in response.text
    await assert_still_pending(db, codes)


# --- The client changed while the user was signing in ---

CLIENT_CHANGED = (
    "This app may no longer connect devices with these permissions. Nothing was changed. "
    "Start again on your device."
)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(ClientChanges(grant_types=["refresh_token"]), id="device-grant-removed"),
        pytest.param(ClientChanges(scope="openid read:notes"), id="scope-removed"),
    ],
)
async def test_device_allow_after_the_client_lost_what_it_asked_for_changes_nothing(
    db: Database,
    browser: httpx.AsyncClient,
    codes: dict[str, Any],
    device_client: TestClient,
    user: TestUser,
    changes: ClientChanges,
) -> None:
    page = await open_device_consent(browser, user, codes["user_code"])

    async def change(repos: Repositories) -> None:
        row = await repos.clients.get_by_client_id(device_client.client_id)
        assert row is not None
        await update_client(repos, row, changes, now=datetime.now(UTC))

    await db.run(change)  # an operator, while the consent page is open

    response = await answer(browser, page, codes["user_code"], "allow")

    assert response.status_code == 400
    assert page_error_text(CLIENT_CHANGED) in response.text
    await assert_still_pending(db, codes)
    assert await db.count(AuditEvent, AuditEvent.event == "device_approved") == 0


# --- Apps nobody vetted (self-registered) ---


@pytest.mark.parametrize("setting_overrides", [{"registration_open": True}])
async def test_device_consent_of_a_self_registered_app_warns_and_shows_its_policies(
    auth_client: httpx.AsyncClient, browser: httpx.AsyncClient, user: TestUser
) -> None:
    registered = await auth_client.post(
        "/oauth/register",
        json={
            "client_name": "Thermostat",
            "grant_types": [DEVICE_CODE_GRANT],
            "token_endpoint_auth_method": "none",
            "scope": "read:notes",
            "policy_uri": "https://thermostat.example/privacy",
            "tos_uri": "https://thermostat.example/terms",
        },
    )
    assert registered.status_code == 201, registered.text
    started_response = await auth_client.post(
        "/oauth/device_authorization",
        data={"client_id": registered.json()["client_id"], "scope": "read:notes"},
    )
    user_code = started_response.json()["user_code"]

    page = await open_device_consent(browser, user, user_code)

    assert (
        "<strong>Unverified app.</strong> Thermostat was registered by its developer" in page.text
    )
    assert "How it uses your data: https://thermostat.example/privacy" in page.text
    assert "Its terms of service: https://thermostat.example/terms" in page.text


async def test_device_consent_of_an_operator_registered_app_has_no_warning(
    browser: httpx.AsyncClient, codes: dict[str, Any], user: TestUser
) -> None:
    page = await open_device_consent(browser, user, codes["user_code"])

    assert "Unverified app" not in page.text
