"""Passkeys in Chromium (issue 16), with its virtual authenticator (DevTools protocol
`WebAuthn.addVirtualAuthenticator`): add one in /account/passkeys, sign in with it and no
password, see a passkey of another RP ID refused, remove it. WebAuthn allows no IP address as
RP ID, so this stack's issuer is http://localhost:<port>."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, expect

from shared.database import make_engine
from tests.browser.support import (
    ACTION_TIMEOUT_MS,
    axe_violations,
    horizontal_overflow,
    screenshot,
)
from tests.factories import TestUser, make_user
from tests.support.databases import fresh_database
from tests.support.db import Database
from tests.support.live import LiveStack, live_stack

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class PasskeySite:
    stack: LiveStack
    url: str  # the issuer: http://localhost:<port>
    person: TestUser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PasskeySite]:
    tmp_path = tmp_path_factory.mktemp("passkeys")
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as stack:
        issuer = f"http://localhost:{stack.auth_port}"
        stack.start_auth(AUTH_ISSUER=issuer)

        async def person() -> TestUser:
            engine = make_engine(url)
            try:
                return await make_user(Database(engine), username="pat", name="Pat Passkey")
            finally:
                await engine.dispose()

        yield PasskeySite(stack, issuer, asyncio.run(person()))


@pytest.fixture(scope="module")
def browser(site: PasskeySite, browser: Browser) -> Browser:
    """The package's Chromium, started after this module's stack (whose set-up runs its own
    event loop, which Playwright's would refuse)."""
    return browser


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 800, "height": 720})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    yield context
    context.close()


def virtual_authenticator(page: Page) -> tuple[CDPSession, str]:
    """A platform authenticator with user verification that always succeeds."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                "hasUserVerification": True, "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )  # fmt: skip
    return cdp, str(added["authenticatorId"])


def sign_in_with_password(page: Page, site: PasskeySite) -> None:
    page.goto(f"{site.url}/login")
    page.get_by_label("Username").fill(site.person.user.username)
    page.get_by_label("Password").fill(site.person.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{site.url}/")


def expect_passkey_sign_in_refused(page: Page, site: PasskeySite, message: str) -> None:
    page.goto(f"{site.url}/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_have_text(message)
    expect(page).to_have_url(f"{site.url}/login")


def test_add_a_passkey_sign_in_with_it_without_a_password_then_remove_it(
    context: BrowserContext, site: PasskeySite
) -> None:
    page = context.new_page()
    cdp, authenticator = virtual_authenticator(page)
    sign_in_with_password(page, site)

    page.goto(f"{site.url}/account/passkeys")
    page.get_by_label("Name it, so you know it later").fill("Work laptop")
    page.get_by_label("Your password, to confirm").fill(site.person.password)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("status")).to_have_text("Your passkey was added.")
    expect(page.get_by_text("Work laptop", exact=True)).to_be_visible()
    screenshot(page, "passkeys")
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    (credential,) = credentials["credentials"]
    assert credential["isResidentCredential"] is True and credential["rpId"] == "localhost"

    context.clear_cookies()  # signed out: no session, no device cookie
    page.goto(f"{site.url}/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(f"{site.url}/")
    page.goto(f"{site.url}/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")

    page.goto(f"{site.url}/account/passkeys")
    page.get_by_role("button", name="Remove Work laptop").click()
    expect(page.get_by_role("status")).to_have_text("The passkey was removed.")
    context.clear_cookies()
    # The authenticator still holds the key; the service no longer knows it.
    expect_passkey_sign_in_refused(
        page, site, "That passkey is not registered here, or it did not prove itself."
    )


def test_a_passkey_of_another_rp_id_is_not_offered_and_signs_nobody_in(
    context: BrowserContext, site: PasskeySite
) -> None:
    page = context.new_page()
    cdp, authenticator = virtual_authenticator(page)
    # A credential made for another site, planted in the authenticator.
    cdp.send(
        "WebAuthn.addCredential",
        {
            "authenticatorId": authenticator,
            "credential": {
                "credentialId": "b3RoZXItc2l0ZS1jcmVkZW50aWFs", "isResidentCredential": True,
                "rpId": "other.example", "userHandle": "dXNlcg==",
                "privateKey": _pkcs8_p256(), "signCount": 1,
            },
        },
    )  # fmt: skip
    expect_passkey_sign_in_refused(page, site, "The passkey request was cancelled or timed out.")


def test_the_passkey_pages_pass_axe_and_fit_a_phone_screen(
    browser: Browser, site: PasskeySite
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        page = context.new_page()
        virtual_authenticator(page)
        problems: dict[str, object] = {}
        page.goto(f"{site.url}/login")
        for name in ("login",):
            found = {"axe": axe_violations(page), "overflow_px": horizontal_overflow(page)}
            if found != {"axe": [], "overflow_px": 0}:
                problems[name] = found
        sign_in_with_password(page, site)
        for path in ("/account/passkeys", "/account/sessions", "/account/delete", "/account"):
            page.goto(f"{site.url}{path}")
            found = {"axe": axe_violations(page), "overflow_px": horizontal_overflow(page)}
            if found != {"axe": [], "overflow_px": 0}:
                problems[path] = found
        assert problems == {}
    finally:
        context.close()


def _pkcs8_p256() -> str:
    """A fresh P-256 private key, PKCS#8 DER in base64 (what addCredential takes)."""
    der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return base64.b64encode(der).decode()
