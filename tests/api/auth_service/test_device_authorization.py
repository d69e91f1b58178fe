"""Device authorization (RFC 8628): POST /oauth/device_authorization (§3.1-3.2), token polling
with the device_code grant (§3.4-3.5), and discovery (§4)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.oauth.device_authorization import DEVICE_CODE_GRANT
from shared.models import AuditEvent, Consent, DeviceAuthorization, Grant, RefreshToken
from tests.conftest import AUDIENCE, ISSUER
from tests.factories import TestClient, TestUser, make_client, make_resource_server
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.device import DEVICE_SCOPE, approve_device, poll, start_device, started
from tests.support.dpop import DpopKey
from tests.support.flows import csrf_from
from tests.support.forge import unverified_claims
from tests.support.lifecycle import verified_claims
from tests.support.pages import sha256_hex
from tests.support.portal import database_text
from tests.support.token_endpoint import post_token, refresh

BASIC_CHALLENGE = 'Basic realm="oauth", charset="UTF-8"'
USER_CODE = re.compile(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}")
PENDING = "the user has not yet answered the authorization request"
INVALID = "device_code is invalid"
USED = "device_code was already used"


@pytest.fixture
async def device_client(db: Database) -> TestClient:
    """A command-line tool: public, the device grant and refresh tokens, no redirect URI."""
    return await make_client(
        db,
        name="Notes CLI",
        redirect_uris=[],
        is_public=True,
        grant_types=[DEVICE_CODE_GRANT, "refresh_token"],
        scope=DEVICE_SCOPE,
    )


@pytest.fixture
async def browser(auth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The user's phone: its own cookies, the same app."""
    transport = httpx.ASGITransport(app=auth_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield client


async def row_of(db: Database, device_code: str) -> DeviceAuthorization:
    row = await db.get(DeviceAuthorization, sha256_hex(device_code))
    assert row is not None
    return row


async def assert_no_device_rows(db: Database) -> None:
    for model in (DeviceAuthorization, Grant, RefreshToken, Consent, AuditEvent):
        assert await db.count(model) == 0, model.__name__


# --- The device authorization request (RFC 8628 §3.1, §3.2) ---


async def test_device_authorization_public_client_gets_codes_stored_only_as_digests(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, device_client: TestClient
) -> None:
    response = await start_device(auth_client, device_client, "read:notes write:notes")

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert len(body["device_code"]) >= 43  # 256 random bits
    assert USER_CODE.fullmatch(body["user_code"]), body["user_code"]
    assert body["verification_uri"] == f"{ISSUER}/device"
    assert body["verification_uri_complete"] == f"{ISSUER}/device?user_code={body['user_code']}"
    assert (body["expires_in"], body["interval"]) == (600, 5)
    row = await row_of(db, body["device_code"])
    # A keyed digest: 20**8 bare SHA-256 digests are computed in seconds from a database copy.
    user_code = body["user_code"].replace("-", "")
    key = auth_app.state.secret_box.derive_key("user-code digest v1")
    assert row.user_code_hash == hmac.new(key, user_code.encode(), hashlib.sha256).hexdigest()
    assert row.user_code_hash != sha256_hex(user_code)
    assert row.resources == []
    assert (row.client_id, row.scope, row.status) == (
        device_client.client_id,
        "read:notes write:notes",
        "pending",
    )
    assert (row.user_id, row.grant_id, row.last_polled_at, row.used_at) == (None,) * 4
    assert row.interval == 5
    assert (row.expires_at - row.created_at).total_seconds() == 600
    text = await database_text(db)
    assert body["device_code"] not in text
    assert body["user_code"].replace("-", "") not in text


async def test_device_authorization_confidential_client_authenticates_with_basic(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    client = await make_client(db, redirect_uris=[], grant_types=[DEVICE_CODE_GRANT])

    response = await start_device(auth_client, client)

    assert response.status_code == 200, response.text
    assert await db.count(DeviceAuthorization, DeviceAuthorization.client_id == client.client_id)


async def test_device_authorization_each_request_gets_new_codes(
    auth_client: httpx.AsyncClient, device_client: TestClient
) -> None:
    first = await started(auth_client, device_client)
    second = await started(auth_client, device_client)

    assert first["device_code"] != second["device_code"]
    assert first["user_code"] != second["user_code"]


async def test_device_authorization_unknown_client_is_invalid_client(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await auth_client.post(
        "/oauth/device_authorization", data={"client_id": "nobody", "scope": "read:notes"}
    )

    assert_oauth_error(response, "invalid_client", status=401)
    await assert_no_device_rows(db)


async def test_device_authorization_without_any_client_is_invalid_client(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    response = await auth_client.post("/oauth/device_authorization", data={"scope": "read:notes"})

    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication is required"
    )
    await assert_no_device_rows(db)


async def test_device_authorization_wrong_secret_is_invalid_client_with_basic_challenge(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    client = await make_client(db, redirect_uris=[], grant_types=[DEVICE_CODE_GRANT])

    response = await auth_client.post(
        "/oauth/device_authorization",
        data={"scope": "read:notes"},
        auth=(client.client_id, "wrong-secret"),
    )

    assert_oauth_error(response, "invalid_client", status=401)
    assert response.headers["www-authenticate"] == BASIC_CHALLENGE
    await assert_no_device_rows(db)


async def test_device_authorization_client_without_the_device_grant_is_unauthorized_client(
    db: Database, auth_client: httpx.AsyncClient, public_client: TestClient
) -> None:
    response = await start_device(auth_client, public_client)

    assert_oauth_error(
        response,
        "unauthorized_client",
        description="this client may not use the device authorization grant",
    )
    await assert_no_device_rows(db)


@pytest.mark.parametrize(
    ("scope", "description"),
    [
        pytest.param(None, "scope is required", id="missing"),
        pytest.param("read:notes launch:rockets", "unknown scope: launch:rockets", id="unknown"),
        pytest.param("profile", "scope not allowed for this client: profile", id="not-allowed"),
        pytest.param('read:notes "x"', "scope must be space-separated scope tokens", id="syntax"),
    ],
)
async def test_device_authorization_bad_scope_is_invalid_scope(
    db: Database, auth_client: httpx.AsyncClient, device_client: TestClient, scope: str | None,
    description: str,
) -> None:  # fmt: skip
    response = await start_device(auth_client, device_client, scope)

    assert_oauth_error(response, "invalid_scope", description=description)
    await assert_no_device_rows(db)


async def test_device_authorization_repeated_parameter_is_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, device_client: TestClient
) -> None:
    response = await auth_client.post(
        "/oauth/device_authorization",
        content=f"client_id={device_client.client_id}&scope=read:notes&scope=write:notes",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert_oauth_error(
        response, "invalid_request", description="parameter scope was sent more than once"
    )
    await assert_no_device_rows(db)


async def test_device_authorization_json_body_is_invalid_request(
    db: Database, auth_client: httpx.AsyncClient, device_client: TestClient
) -> None:
    response = await auth_client.post(
        "/oauth/device_authorization",
        json={"client_id": device_client.client_id, "scope": "read:notes"},
    )

    assert_oauth_error(
        response,
        "invalid_request",
        description="the request body must be application/x-www-form-urlencoded",
    )
    await assert_no_device_rows(db)


# --- Polling the token endpoint (RFC 8628 §3.4, §3.5) ---


async def test_device_poll_before_the_user_answers_is_authorization_pending(
    db: Database, auth_client: httpx.AsyncClient, device_client: TestClient
) -> None:
    codes = await started(auth_client, device_client)

    response = await poll(auth_client, device_client, codes["device_code"])

    assert_oauth_error(response, "authorization_pending", description=PENDING)
    row = await row_of(db, codes["device_code"])
    assert row.last_polled_at is not None
    assert (row.status, row.interval, row.used_at) == ("pending", 5, None)
    assert await db.count(RefreshToken) == 0


async def test_device_poll_faster_than_the_interval_is_slow_down_and_the_interval_grows(
    db: Database, auth_client: httpx.AsyncClient, device_client: TestClient, clock: TestClock
) -> None:
    codes = await started(auth_client, device_client)
    device_code = codes["device_code"]
    await poll(auth_client, device_client, device_code)

    too_soon = await poll(auth_client, device_client, device_code)
    clock.advance(6)  # more than the first interval, less than the grown one
    still_too_soon = await poll(auth_client, device_client, device_code)
    interval = (await row_of(db, device_code)).interval
    clock.advance(15)
    in_time = await poll(auth_client, device_client, device_code)

    slow = "polling too fast: wait at least {} seconds between requests (RFC 8628 section 3.5)"
    assert_oauth_error(too_soon, "slow_down", description=slow.format(10))
    assert_oauth_error(still_too_soon, "slow_down", description=slow.format(15))
    assert interval == 15
    assert_oauth_error(in_time, "authorization_pending")
    assert (await row_of(db, device_code)).interval == 15


async def test_device_poll_up_to_a_second_early_is_jitter_not_slow_down(
    db: Database, auth_client: httpx.AsyncClient, device_client: TestClient, clock: TestClock
) -> None:
    codes = await started(auth_client, device_client)
    device_code = codes["device_code"]
    await poll(auth_client, device_client, device_code)

    clock.advance(4.2)  # the device waited 5 s; its request got here sooner than its last one
    on_time = await poll(auth_client, device_client, device_code)
    clock.advance(3.9)  # more than a second early
    too_soon = await poll(auth_client, device_client, device_code)

    assert_oauth_error(on_time, "authorization_pending")
    assert_oauth_error(too_soon, "slow_down")
    assert (await row_of(db, device_code)).interval == 10


async def test_device_poll_after_approval_issues_tokens_once_from_a_new_family(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    device_client: TestClient,
    user: TestUser,
) -> None:
    codes = await started(auth_client, device_client, "openid read:notes offline_access")
    await approve_device(browser, user, codes["user_code"])

    response = await poll(auth_client, device_client, codes["device_code"])

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {
        "access_token", "token_type", "expires_in", "scope", "refresh_token", "id_token"
    }  # fmt: skip
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid read:notes offline_access"
    row = await row_of(db, codes["device_code"])
    assert row.used_at is not None
    claims = unverified_claims(body["access_token"])
    assert (claims["sub"], claims["client_id"], claims["aud"]) == (
        user.id,
        device_client.client_id,
        AUDIENCE,
    )
    (grant,) = await db.all(Grant)
    assert grant.id == row.grant_id == claims["grant_id"]
    assert (grant.user_id, grant.client_id, grant.revoked_at) == (
        user.id,
        device_client.client_id,
        None,
    )
    id_token = unverified_claims(body["id_token"])
    assert (id_token["sub"], id_token["aud"]) == (user.id, device_client.client_id)
    await auth_app.state.audit_buffer.flush()
    issued = await db.all(AuditEvent, AuditEvent.event == "token_issued")
    assert [e.details["grant_type"] for e in issued] == [DEVICE_CODE_GRANT]


async def test_device_poll_with_a_dpop_proof_gets_a_dpop_bound_token(
    db: Database,
    auth_client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    device_client: TestClient,
    user: TestUser,
    clock: TestClock,
) -> None:
    key = DpopKey()
    codes = await started(auth_client, device_client)
    await approve_device(browser, user, codes["user_code"])

    response = await auth_client.post(
        "/oauth/token",
        data={
            "grant_type": DEVICE_CODE_GRANT,
            "device_code": codes["device_code"],
            "client_id": device_client.client_id,
        },
        headers={"DPoP": key.proof("POST", f"{ISSUER}/oauth/token", now=clock())},
    )

    # RFC 9449 §5: the same issuing path binds the token, and a public client's family.
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    assert unverified_claims(response.json()["access_token"])["cnf"] == {"jkt": key.jkt}
    (grant,) = await db.all(Grant)
    assert grant.dpop_jkt == key.jkt


async def test_device_refresh_token_from_the_device_grant_rotates(
    auth_client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    device_client: TestClient,
    user: TestUser,
) -> None:
    codes = await started(auth_client, device_client)
    await approve_device(browser, user, codes["user_code"])
    tokens = (await poll(auth_client, device_client, codes["device_code"])).json()

    refreshed = await refresh(auth_client, device_client, tokens["refresh_token"])

    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]


async def test_device_client_without_refresh_token_grant_gets_no_refresh_token(
    db: Database, auth_client: httpx.AsyncClient, browser: httpx.AsyncClient, user: TestUser
) -> None:
    client = await make_client(
        db, redirect_uris=[], is_public=True, grant_types=[DEVICE_CODE_GRANT], scope="read:notes"
    )
    codes = await started(auth_client, client)
    await approve_device(browser, user, codes["user_code"])

    response = await poll(auth_client, client, codes["device_code"])

    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    assert await db.count(RefreshToken) == 0


async def test_device_code_redeemed_twice_is_invalid_grant_and_revokes_the_family(
    db: Database,
    auth_client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    device_client: TestClient,
    user: TestUser,
) -> None:
    codes = await started(auth_client, device_client)
    await approve_device(browser, user, codes["user_code"])
    first = (await poll(auth_client, device_client, codes["device_code"])).json()

    again = await poll(auth_client, device_client, codes["device_code"])

    assert_oauth_error(again, "invalid_grant", description=USED)
    (grant,) = await db.all(Grant)
    assert grant.revoked_at is not None
    assert all(t.revoked_at is not None for t in await db.all(RefreshToken))
    assert await db.count(AuditEvent, AuditEvent.event == "device_code_reused") == 1
    refused = await refresh(auth_client, device_client, first["refresh_token"])
    assert_oauth_error(refused, "invalid_grant")


async def test_device_code_polled_twice_at_once_is_redeemed_by_exactly_one(
    db: Database,
    auth_client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    device_client: TestClient,
    user: TestUser,
) -> None:
    codes = await started(auth_client, device_client)
    await approve_device(browser, user, codes["user_code"])

    responses = await asyncio.gather(
        *(poll(auth_client, device_client, codes["device_code"]) for _ in range(2))
    )

    # One conditional UPDATE redeems it: one winner, and the other is a reuse.
    assert sorted(r.status_code for r in responses) == [200, 400]
    (loser,) = [r for r in responses if r.status_code == 400]
    (winner,) = [r for r in responses if r.status_code == 200]
    assert_oauth_error(loser, "invalid_grant", description=USED)
    assert await db.count(RefreshToken) == 1
    # Kept on purpose (README): like a reused code (RFC 6749 §4.1.2), the loser's poll revokes
    # the family the winner got, as the two may be the device and a thief with its code.
    (grant,) = await db.all(Grant)
    assert grant.revoked_at is not None
    assert all(t.revoked_at is not None for t in await db.all(RefreshToken))
    refused = await refresh(auth_client, device_client, winner.json()["refresh_token"])
    assert_oauth_error(refused, "invalid_grant")


async def test_device_poll_after_the_user_denied_is_access_denied(
    db: Database,
    auth_client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    device_client: TestClient,
    user: TestUser,
) -> None:
    codes = await started(auth_client, device_client)
    await approve_device(browser, user, codes["user_code"], decision="deny")

    response = await poll(auth_client, device_client, codes["device_code"])

    assert_oauth_error(response, "access_denied", description="the user denied the request")
    row = await row_of(db, codes["device_code"])
    assert (row.status, row.user_id, row.grant_id, row.used_at) == ("denied", user.id, None, None)
    assert await db.count(Grant) == 0
    assert await db.count(RefreshToken) == 0
    assert await db.count(Consent) == 0


async def test_device_poll_after_expiry_is_expired_token_even_when_approved(
    db: Database,
    auth_client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    device_client: TestClient,
    user: TestUser,
    clock: TestClock,
) -> None:
    pending = await started(auth_client, device_client)
    approved = await started(auth_client, device_client)
    await approve_device(browser, user, approved["user_code"])
    clock.advance(601)

    responses = [
        await poll(auth_client, device_client, codes["device_code"])
        for codes in (pending, approved)
    ]

    for response in responses:
        assert_oauth_error(
            response,
            "expired_token",
            description="the device_code has expired: start a new device authorization",
        )
    assert (await row_of(db, approved["device_code"])).used_at is None
    assert await db.count(RefreshToken) == 0


async def test_device_code_of_another_client_is_invalid_grant_and_changes_nothing(
    db: Database,
    auth_client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    device_client: TestClient,
    user: TestUser,
) -> None:
    other = await make_client(
        db, redirect_uris=[], is_public=True, grant_types=[DEVICE_CODE_GRANT], scope="read:notes"
    )
    codes = await started(auth_client, device_client)
    await approve_device(browser, user, codes["user_code"])

    response = await poll(auth_client, other, codes["device_code"])

    assert_oauth_error(response, "invalid_grant", description=INVALID)
    row = await row_of(db, codes["device_code"])
    assert (row.used_at, row.last_polled_at) == (None, None)
    assert await db.count(RefreshToken) == 0
    assert (await poll(auth_client, device_client, codes["device_code"])).status_code == 200


@pytest.mark.parametrize(
    ("data", "error", "description"),
    [
        pytest.param({}, "invalid_request", "device_code is required", id="missing"),
        pytest.param({"device_code": "not-a-code"}, "invalid_grant", INVALID, id="unknown"),
        pytest.param(
            {"device_code": "x" * 513}, "invalid_request", "parameter device_code is invalid",
            id="oversized",
        ),
    ],
)  # fmt: skip
async def test_device_poll_malformed_or_unknown_device_code_is_refused(
    db: Database, auth_client: httpx.AsyncClient, device_client: TestClient,
    data: dict[str, str], error: str, description: str,
) -> None:  # fmt: skip
    codes = await started(auth_client, device_client)

    response = await post_token(
        auth_client, device_client, {"grant_type": DEVICE_CODE_GRANT, **data}
    )

    assert_oauth_error(response, error, description=description)
    assert (await row_of(db, codes["device_code"])).last_polled_at is None


async def test_device_poll_by_a_client_without_the_device_grant_is_unauthorized_client(
    db: Database, auth_client: httpx.AsyncClient, public_client: TestClient
) -> None:
    response = await poll(auth_client, public_client, "anything")

    assert_oauth_error(
        response,
        "unauthorized_client",
        description=f"this client may not use grant_type={DEVICE_CODE_GRANT}",
    )


async def test_device_poll_after_the_user_withdrew_the_app_is_invalid_grant(
    db: Database,
    auth_client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    device_client: TestClient,
    user: TestUser,
) -> None:
    codes = await started(auth_client, device_client)
    await approve_device(browser, user, codes["user_code"])
    page = await browser.get("/account/apps")
    await browser.post(
        "/account/apps/revoke",
        data={"client_id": device_client.client_id, "csrf_token": csrf_from(page.text)},
    )

    response = await poll(auth_client, device_client, codes["device_code"])

    assert_oauth_error(response, "invalid_grant", description="the authorization was revoked")
    assert await db.count(RefreshToken) == 0
    assert await db.count(Consent) == 0


# --- Resource indicators (RFC 8707) ---

NOTES = "https://notes.example/api"
CALENDAR = "https://calendar.example"
WRITER = "urn:example:writer"


@pytest.fixture
async def registry(db: Database) -> None:
    await make_resource_server(db, NOTES, scopes=("read:notes", "write:notes"))
    await make_resource_server(db, CALENDAR, scopes=("profile",))
    await make_resource_server(db, WRITER, scopes=("write:notes",))


async def start_with_resources(
    auth: httpx.AsyncClient, client: TestClient, scope: str, *resources: str
) -> httpx.Response:
    data = {"client_id": client.client_id, "scope": scope, "resource": list(resources)}
    return await auth.post("/oauth/device_authorization", data=data)


@pytest.mark.parametrize(
    ("resources", "description"),
    [
        pytest.param(
            ("https://unknown.example",),
            "the resource is not a registered resource server",
            id="unregistered",
        ),
        pytest.param(
            (NOTES, "https://unknown.example"),
            "the resource is not a registered resource server",
            id="one-of-two",
        ),
        pytest.param(
            ("https://notes.example/api#x",),
            "resource must not contain a fragment (RFC 8707 section 2)",
            id="fragment",
        ),
        pytest.param(("notes",), "resource must be an absolute URI (RFC 8707 section 2)", id="rel"),
    ],
)
async def test_device_authorization_bad_resource_is_invalid_target_and_stores_nothing(
    db: Database,
    auth_client: httpx.AsyncClient,
    device_client: TestClient,
    registry: None,
    resources: tuple[str, ...],
    description: str,
) -> None:
    response = await start_with_resources(auth_client, device_client, "read:notes", *resources)

    assert_oauth_error(response, "invalid_target", description=description)
    await assert_no_device_rows(db)


async def test_device_authorization_resource_the_client_may_not_target_is_invalid_target(
    db: Database, auth_client: httpx.AsyncClient, registry: None
) -> None:
    client = await make_client(
        db,
        redirect_uris=[],
        is_public=True,
        grant_types=[DEVICE_CODE_GRANT],
        scope="read:notes",
        resources=[CALENDAR],
    )

    response = await start_with_resources(auth_client, client, "read:notes", NOTES)

    assert_oauth_error(
        response,
        "invalid_target",
        description="this client may not ask for tokens for the resource",
    )
    assert await db.count(DeviceAuthorization) == 0


async def test_device_token_for_the_one_resource_asked_for_has_it_as_aud_and_narrowed_scope(
    db: Database,
    auth_client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    device_client: TestClient,
    user: TestUser,
    registry: None,
) -> None:
    scope = "openid read:notes offline_access"
    started_response = await start_with_resources(auth_client, device_client, scope, NOTES)
    assert started_response.status_code == 200, started_response.text
    codes = started_response.json()
    assert (await row_of(db, codes["device_code"])).resources == [NOTES]
    await approve_device(browser, user, codes["user_code"])

    response = await poll(auth_client, device_client, codes["device_code"])

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "read:notes"
    claims = await verified_claims(auth_client, body["access_token"])
    assert (claims["aud"], claims["scope"]) == (NOTES, "read:notes")
    assert unverified_claims(body["id_token"])["aud"] == device_client.client_id
    (grant,) = await db.all(Grant)
    assert grant.resources == [NOTES]
    (stored,) = await db.all(RefreshToken)
    assert stored.scope == scope  # the refresh token keeps the whole grant


async def test_device_poll_for_a_resource_not_asked_for_is_invalid_target_and_can_retry(
    db: Database,
    auth_client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    device_client: TestClient,
    user: TestUser,
    registry: None,
) -> None:
    started_response = await start_with_resources(
        auth_client, device_client, "read:notes write:notes", NOTES, WRITER
    )
    codes = started_response.json()
    await approve_device(browser, user, codes["user_code"])

    elsewhere = await poll(auth_client, device_client, codes["device_code"], resource=CALENDAR)
    row = await row_of(db, codes["device_code"])
    writer = await poll(auth_client, device_client, codes["device_code"], resource=WRITER)

    assert_oauth_error(
        elsewhere,
        "invalid_target",
        description="the resource was not asked for in the authorization request",
    )
    assert row.used_at is None  # refused before anything was written: the code still works
    assert writer.status_code == 200, writer.text
    claims = await verified_claims(auth_client, writer.json()["access_token"])
    assert (claims["aud"], claims["scope"]) == (WRITER, "write:notes")


# --- Dynamic registration (RFC 7591 §2) ---


@pytest.fixture
def setting_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(settings: AuthSettings, setting_overrides: dict[str, Any]) -> AuthSettings:
    return settings.model_copy(update=setting_overrides)


@pytest.mark.parametrize("setting_overrides", [{"registration_open": True}])
async def test_device_grant_is_open_to_dynamic_registration_without_redirect_uris(
    db: Database, auth_client: httpx.AsyncClient
) -> None:
    registered = await auth_client.post(
        "/oauth/register",
        json={
            "client_name": "Thermostat",
            "grant_types": [DEVICE_CODE_GRANT],
            "token_endpoint_auth_method": "none",
            "scope": "read:notes",
        },
    )
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert (body["grant_types"], body["response_types"]) == ([DEVICE_CODE_GRANT], [])

    response = await auth_client.post(
        "/oauth/device_authorization",
        data={"client_id": body["client_id"], "scope": "read:notes"},
    )

    assert response.status_code == 200, response.text
    assert await db.count(DeviceAuthorization, DeviceAuthorization.client_id == body["client_id"])


# --- Discovery (RFC 8628 §4) ---


async def test_discovery_names_the_device_authorization_endpoint_and_grant(
    auth_client: httpx.AsyncClient,
) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        metadata: dict[str, Any] = (await auth_client.get(path)).json()
        assert metadata["device_authorization_endpoint"] == f"{ISSUER}/oauth/device_authorization"
        assert DEVICE_CODE_GRANT in metadata["grant_types_supported"]
