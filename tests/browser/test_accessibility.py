"""Every page of the journey on a phone-width screen, checked by axe-core and for sideways scroll.

axe-core (tests/browser/package.json) runs the WCAG basics: labels on inputs, page titles,
colour contrast, the page language, alt text. The pages belong to CoolNotesApp and the provider.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from pprint import pformat
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.support import (
    ACTION_TIMEOUT_MS,
    AXE_JS,
    Demo,
    axe_violations,
    expect_consent_page,
    expect_signed_in,
    horizontal_overflow,
    open_app,
    require,
    sign_in,
    start_login,
)

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}  # a common phone viewport, in CSS pixels


@pytest.fixture(scope="session")  # session: checked before the stack starts, skips cheaply
def axe() -> Path:
    require(AXE_JS.is_file(), "needs `npm ci --prefix tests/browser` (make test does it)")
    return AXE_JS


@pytest.fixture
def phone(axe: Path, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    yield context.new_page()
    context.close()


def test_every_page_of_the_journey_passes_axe_and_fits_a_phone_screen(
    phone: Page, demo: Demo
) -> None:
    page, person = phone, demo.new_person("Alex Access")
    problems: dict[str, Any] = {}

    def check(name: str) -> None:
        found = {"axe": axe_violations(page), "overflow_px": horizontal_overflow(page)}
        if found != {"axe": [], "overflow_px": 0}:
            problems[name] = found

    open_app(page, demo)
    check("coolnotes: signed out")
    start_login(page, demo)
    check("provider: login")
    sign_in(page, person, password="wrong-password")
    expect(page.get_by_role("alert")).to_be_visible()
    check("provider: login error")
    sign_in(page, person)
    expect_consent_page(page, demo)
    check("provider: consent")
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_role("status")).to_be_visible()
    check("coolnotes: access refused")

    page.get_by_role("link", name="Login with MyAuthProvider").click()
    expect_consent_page(page, demo)  # still signed in at the provider: straight to consent
    page.get_by_role("button", name="Allow").click()
    expect_signed_in(page, demo, person)
    # A long unbroken title must wrap, not push the page sideways.
    page.get_by_label("Title").fill("A-very-long-title-without-any-spaces-" * 4)
    page.get_by_label("Note", exact=True).fill("Some text")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_text("Some text")).to_be_visible()
    check("coolnotes: notes")
    page.goto(f"{demo.issuer}/account/apps")
    check("provider: connected apps")
    # The device flow's pages (RFC 8628 §3.3), for the demo seed's notes-cli client.
    started = httpx.post(
        f"{demo.issuer}/oauth/device_authorization",
        data={"client_id": "notes-cli", "scope": "read:notes"},
        timeout=10,
    )
    assert started.status_code == 200, started.text
    page.goto(started.json()["verification_uri_complete"])
    check("provider: device code")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("button", name="Allow")).to_be_visible()
    check("provider: device consent")
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    check("provider: device connected")
    open_app(page, demo)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_be_visible()
    check("coolnotes: signed out again")

    assert problems == {}, pformat(problems, width=100)
