"""Passkeys (issue 16; WebAuthn Level 3 with the `webauthn` library): adding one in
/account/passkeys, signing in with it without a password, removing it, and every refusal
(another RP ID or origin, no user verification, a replayed or foreign challenge, a cloned
authenticator) with no session made. The authenticator is tests/support/webauthn.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.main import create_app
from shared.models import AuditEvent, Passkey, PasskeyChallenge, UserSession
from tests.conftest import ISSUER
from tests.factories import TestUser, make_user
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.flows import csrf_from, login
from tests.support.pages import SESSION_COOKIE, set_cookie, set_cookie_names, sign_in
from tests.support.portal import browser
from tests.support.two_step import enrol
from tests.support.webauthn import SoftAuthenticator

RP_ID = "auth.test"  # the issuer's host (tests.conftest.ISSUER)


@pytest.fixture
async def user(db: Database) -> TestUser:
    return await make_user(db, username="pia", email="pia@example.com")


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(RP_ID, ISSUER)


PASSWORD = "correct horse battery"  # noqa: S105 - tests.factories.make_user's default


async def add_passkey(
    auth: httpx.AsyncClient, authenticator: SoftAuthenticator, name: str = "Laptop", **create: Any
) -> httpx.Response:
    page = await auth.get("/account/passkeys")
    csrf = csrf_from(page.text)
    options = await auth.post(
        "/account/passkeys/options", json={"csrf_token": csrf, "current_password": PASSWORD}
    )
    assert options.status_code == 200, options.text
    credential = authenticator.create(options.json(), **create)
    return await auth.post(
        "/account/passkeys", json={"csrf_token": csrf, "name": name, "credential": credential}
    )


async def passkey_sign_in(
    auth: httpx.AsyncClient, authenticator: SoftAuthenticator, **get: Any
) -> httpx.Response:
    page = await auth.get("/login")
    fields = {"csrf_token": csrf_from(page.text), "request_id": "", "next": ""}
    options = await auth.post("/login/passkey/options", json=fields)
    assert options.status_code == 200, options.text
    credential = authenticator.get(options.json(), **get)
    return await auth.post("/login/passkey", json={**fields, "credential": credential})


@pytest.fixture
async def registered(
    db: Database, auth_client: httpx.AsyncClient, authenticator: SoftAuthenticator, user: TestUser
) -> SoftAuthenticator:
    await sign_in(auth_client, user)
    assert (await add_passkey(auth_client, authenticator)).status_code == 201
    return authenticator


async def test_adding_a_passkey_asks_for_a_discoverable_verified_credential_and_lists_it(
    db: Database, auth_client: httpx.AsyncClient, authenticator: SoftAuthenticator, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    page = await auth_client.get("/account/passkeys")
    options = await auth_client.post(
        "/account/passkeys/options",
        json={"csrf_token": csrf_from(page.text), "current_password": PASSWORD},
    )

    body = options.json()
    assert options.headers["cache-control"] == "no-store"
    assert body["rp"] == {"id": RP_ID, "name": "MyAuthProvider"}
    assert body["user"]["name"] == "pia"
    assert body["authenticatorSelection"]["residentKey"] == "required"
    assert body["authenticatorSelection"]["userVerification"] == "required"
    assert body["attestation"] == "none"
    assert await db.count(PasskeyChallenge) == 1

    added = await auth_client.post(
        "/account/passkeys",
        json={"csrf_token": csrf_from(page.text), "name": "  My   phone ",
              "credential": authenticator.create(body)},
    )  # fmt: skip

    assert added.status_code == 201
    assert added.json() == {"redirect": "/account/passkeys?message=added"}
    (stored,) = await db.all(Passkey)
    assert (stored.credential_id, stored.user_id, stored.name) == (
        authenticator.id,
        user.id,
        "My phone",
    )
    assert await db.count(PasskeyChallenge) == 0  # spent
    listed = await auth_client.get("/account/passkeys?message=added")
    assert "My phone" in listed.text and "Your passkey was added." in listed.text
    again = await add_passkey(auth_client, authenticator)  # excluded the second time
    options_again = again.request
    assert (
        again.status_code == 400 and again.json()["error"] == "That passkey is registered already."
    )
    assert options_again is not None


async def test_signing_in_with_a_passkey_needs_no_password(
    db: Database, auth_app: FastAPI, registered: SoftAuthenticator, user: TestUser
) -> None:
    async with browser(auth_app, ip="198.51.100.20") as fresh:
        response = await passkey_sign_in(fresh, registered)

        assert response.status_code == 200, response.text
        assert response.json() == {"redirect": "/"}
        cookie = set_cookie(response, SESSION_COOKIE)
        assert cookie["value"] and "httponly" in cookie
        assert (await fresh.get("/account")).status_code == 200
    sessions = await db.all(UserSession, UserSession.user_id == user.id)
    assert {s.amr for s in sessions} == {"pwd", "hwk user"}
    (stored,) = await db.all(Passkey)
    assert stored.sign_count == 1 and stored.last_used_at is not None
    events = await db.all(AuditEvent, AuditEvent.event == "login_succeeded")
    assert any(e.details.get("method") == "passkey" for e in events)


@pytest.mark.parametrize(
    ("get", "why"),
    [
        ({"origin": "http://evil.test"}, "another origin"),
        ({"verified": False}, "no user verification"),
        ({"count": 0}, "a counter that does not grow: a clone"),
    ],
)
async def test_a_bad_assertion_is_refused_and_signs_nobody_in(
    db: Database, auth_app: FastAPI, registered: SoftAuthenticator, user: TestUser,
    get: dict[str, Any], why: str,
) -> None:  # fmt: skip
    registered.sign_count = 5 if "count" in get else 0
    if "count" in get:  # the stored counter is ahead of what the clone says
        async with browser(auth_app) as first:
            assert (await passkey_sign_in(first, registered, count=5)).status_code == 200
    before = await db.count(UserSession)
    async with browser(auth_app) as attacker:
        response = await passkey_sign_in(attacker, registered, **get)

        assert response.status_code == 400, why
        assert response.json()["error"] == (
            "That passkey is not registered here, or it did not prove itself."
        )
        assert SESSION_COOKIE not in set_cookie_names(response)
    assert await db.count(UserSession) == before


async def test_an_assertion_answers_one_challenge_once_and_only_in_its_own_browser(
    db: Database, auth_app: FastAPI, registered: SoftAuthenticator
) -> None:
    async with browser(auth_app) as victim, browser(auth_app) as attacker:
        page = await victim.get("/login")
        fields = {"csrf_token": csrf_from(page.text), "request_id": "", "next": ""}
        options = (await victim.post("/login/passkey/options", json=fields)).json()
        credential = registered.get(options)
        # Another browser replays the victim's answer: its own cookie, its own CSRF token.
        other_page = await attacker.get("/login")
        other = {"csrf_token": csrf_from(other_page.text), "request_id": "", "next": ""}
        stolen = await attacker.post("/login/passkey", json={**other, "credential": credential})
        assert stolen.status_code == 400
        assert stolen.json()["error"] == "This request has expired or was already used. Try again."

        first = await victim.post("/login/passkey", json={**fields, "credential": credential})
        replay = await victim.post("/login/passkey", json={**fields, "credential": credential})

        assert (first.status_code, replay.status_code) == (200, 400)


async def test_a_passkey_for_another_rp_id_or_without_verification_is_not_added(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)
    for create in ({"rp_id": "evil.test"}, {"origin": "http://evil.test"}, {"verified": False}):
        refused = await add_passkey(auth_client, SoftAuthenticator(RP_ID, ISSUER), **create)

        assert refused.status_code == 400, create
        assert refused.json()["error"] == "The passkey could not be added: it did not prove itself."
    assert await db.count(Passkey) == 0


async def test_adding_needs_the_pages_csrf_token(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    await sign_in(auth_client, user)

    forged = await auth_client.post("/account/passkeys/options", json={"csrf_token": "forged"})

    assert forged.status_code == 400
    assert forged.json()["error"] == "This form has expired. Please try again."
    assert await db.count(PasskeyChallenge) == 0


async def test_a_removed_passkey_signs_nobody_in(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, registered: SoftAuthenticator
) -> None:
    page = await auth_client.get("/account/passkeys")
    removed = await auth_client.post(
        "/account/passkeys/remove",
        data={"csrf_token": csrf_from(page.text), "credential_id": registered.id},
    )
    assert removed.headers["location"] == "/account/passkeys?message=removed"
    assert await db.count(Passkey) == 0

    async with browser(auth_app) as fresh:
        assert (await passkey_sign_in(fresh, registered)).status_code == 400


async def test_an_issuer_at_an_ip_address_offers_no_passkeys(
    db: Database, settings: AuthSettings, user: TestUser
) -> None:
    app = create_app(settings.model_copy(update={"issuer": "http://127.0.0.1:8000"}))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as web:
            login = await web.get("/login")
            assert "Sign in with a passkey" not in login.text
            await sign_in(web, user)
            page = await web.get("/account/passkeys")
            assert "Passkeys need this service to be reached by a domain name" in page.text
            refused = await web.post("/account/passkeys/options", json={"csrf_token": "x"})
            assert refused.status_code == 400
            assert refused.json()["error"] == (
                "Passkeys need the service to be reached by a domain name."
            )


# --- A passkey as the second step after a password ---


async def two_step_account(
    auth: httpx.AsyncClient, clock: TestClock, user: TestUser, authenticator: SoftAuthenticator
) -> None:
    """`user` with TOTP on and a passkey; then signed out of `auth`."""
    await sign_in(auth, user)
    await enrol(auth, clock, user.password)
    assert (await add_passkey(auth, authenticator)).status_code == 201
    auth.cookies.clear()


async def password_step(auth: httpx.AsyncClient, user: TestUser) -> httpx.Response:
    response = await login(auth, user)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login/second-factor")
    return await auth.get(response.headers["location"])


async def test_a_passkey_answers_the_second_step_after_the_password(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, clock: TestClock,
    authenticator: SoftAuthenticator, user: TestUser,
) -> None:  # fmt: skip
    await two_step_account(auth_client, clock, user, authenticator)
    async with browser(auth_app) as laptop:
        page = await password_step(laptop, user)
        assert "Use a passkey" in page.text
        fields = {"csrf_token": csrf_from(page.text), "request_id": "", "next": ""}
        options = await laptop.post("/login/second-factor/passkey/options", json=fields)
        assert [c["id"] for c in options.json()["allowCredentials"]] == [authenticator.id]
        assert options.json()["userVerification"] == "preferred"
        # Possession is what the second step adds: an assertion without verification will do.
        credential = authenticator.get(options.json(), verified=False)

        done = await laptop.post(
            "/login/second-factor/passkey", json={**fields, "credential": credential}
        )

        assert done.status_code == 200, done.text
        assert done.json() == {"redirect": "/"}
        assert (await laptop.get("/account")).status_code == 200
    amrs = {s.amr for s in await db.all(UserSession, UserSession.user_id == user.id)}
    assert "pwd hwk" in amrs


async def test_another_accounts_passkey_does_not_answer_the_second_step(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, clock: TestClock,
    authenticator: SoftAuthenticator, user: TestUser,
) -> None:  # fmt: skip
    await two_step_account(auth_client, clock, user, authenticator)
    mallory = await make_user(db, username="mallory")
    malloys_key = SoftAuthenticator(RP_ID, ISSUER)
    async with browser(auth_app) as attacker:
        await sign_in(attacker, mallory)
        assert (await add_passkey(attacker, malloys_key)).status_code == 201
    async with browser(auth_app) as laptop:
        page = await password_step(laptop, user)
        fields = {"csrf_token": csrf_from(page.text), "request_id": "", "next": ""}
        options = await laptop.post("/login/second-factor/passkey/options", json=fields)

        refused = await laptop.post(
            "/login/second-factor/passkey",
            json={**fields, "credential": malloys_key.get(options.json())},
        )

        assert refused.status_code == 400
        assert refused.json()["error"] == (
            "That passkey is not registered here, or it did not prove itself."
        )
        assert (await laptop.get("/account")).status_code == 303


async def test_the_second_step_passkey_needs_a_pending_sign_in(
    auth_app: FastAPI, authenticator: SoftAuthenticator
) -> None:
    async with browser(auth_app) as stranger:
        refused = await stranger.post(
            "/login/second-factor/passkey/options", json={"csrf_token": "x", "request_id": ""}
        )

        assert refused.status_code == 400
        assert refused.json()["error"] == "This sign-in has expired. Sign in again."


async def test_adding_a_passkey_asks_for_the_password_again(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    """A passkey signs in without the password: a stolen session cookie alone must not be
    enough to plant one."""
    await sign_in(auth_client, user)
    page = await auth_client.get("/account/passkeys")
    csrf = csrf_from(page.text)

    statuses = []
    for password in ("wrong", "still wrong", "wrong again", "and again", PASSWORD):
        refused = await auth_client.post(
            "/account/passkeys/options", json={"csrf_token": csrf, "current_password": password}
        )
        statuses.append(refused.status_code)

    assert statuses[:3] == [400, 400, 400] and statuses[-1] == 429  # then it waits
    assert await db.count(PasskeyChallenge) == 0
    assert await db.count(AuditEvent, AuditEvent.event == "passkey_add_failed") >= 3


@pytest.mark.parametrize("token", [1, ["x"], {"a": 1}, True, None, "x" * 5000])
async def test_a_csrf_token_that_is_no_string_is_refused_not_a_500(
    auth_client: httpx.AsyncClient, token: object
) -> None:
    await auth_client.get("/login")  # the browser cookie

    response = await auth_client.post("/login/passkey/options", json={"csrf_token": token})

    assert response.status_code == 400
    assert response.json()["error"] == "This form has expired. Please try again."
