"""Forgot password in Chromium (issue 16): the login page's link, the mail in the development
catcher at /dev/mail, the mailed link, a new password, and signing in with it; the same pages
at phone width pass axe and never scroll sideways."""

from __future__ import annotations

from collections.abc import Iterator
from pprint import pformat
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.support import (
    ACTION_TIMEOUT_MS,
    Demo,
    Person,
    axe_violations,
    horizontal_overflow,
    screenshot,
    sign_in,
)

pytestmark = pytest.mark.e2e
NEW_PASSWORD = "A-fresh-start-2026"  # noqa: S105 - test credential


def ask_for_a_link(page: Page, demo: Demo, person: Person) -> None:
    page.goto(f"{demo.issuer}/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(f"{demo.issuer}/password/forgot")
    page.get_by_label("Email address").fill(person.email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_contain_text(f"If an account uses {person.email}")


def open_the_mailed_link(page: Page, demo: Demo, person: Person) -> None:
    """At /dev/mail, the newest message to `person` (the sender delivers within a second)."""
    mail = page.locator("article.caught-mail").filter(has_text=person.email).first
    for _ in range(50):
        page.goto(f"{demo.issuer}/dev/mail")
        if mail.count():
            break
        page.wait_for_timeout(200)
    expect(mail.get_by_role("heading")).to_have_text("Reset your MyAuthProvider password")
    mail.locator('a[href*="/password/reset?token="]').click()
    # The token left the address bar at once (OWASP): it now sits in an HttpOnly cookie.
    expect(page).to_have_url(f"{demo.issuer}/password/reset")


def choose_a_new_password(page: Page, demo: Demo) -> None:
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the new password").click()
    expect(page).to_have_url(f"{demo.issuer}/login?notice=password-reset")
    expect(page.get_by_role("status")).to_have_text(
        "Your password was changed. Sign in with the new one."
    )


def test_a_person_who_forgot_their_password_resets_it_by_mail_and_signs_in_with_the_new_one(
    page: Page, demo: Demo
) -> None:
    person = demo.new_person("Fern Forgetful")

    ask_for_a_link(page, demo, person)
    screenshot(page, "password-forgot")
    open_the_mailed_link(page, demo, person)
    screenshot(page, "password-reset")
    choose_a_new_password(page, demo)

    sign_in(page, person)  # the old password no longer works
    expect(page.get_by_role("alert")).to_have_text("The username or password is not right.")
    sign_in(page, person, password=NEW_PASSWORD)
    expect(page).to_have_url(f"{demo.issuer}/")
    mails = page.locator("article.caught-mail").filter(has_text=person.email)
    for _ in range(50):  # the sender delivers within a second
        page.goto(f"{demo.issuer}/dev/mail")
        if mails.count() >= 3:
            break
        page.wait_for_timeout(200)
    # Newest first: this browser had never signed in to the account, so a notice says so; before
    # it, the notice of the new password; then the link itself.
    expect(mails.get_by_role("heading")).to_have_text(
        [
            "New sign-in to your MyAuthProvider account",
            "Your MyAuthProvider password was changed",
            "Reset your MyAuthProvider password",
        ]
    )
    screenshot(page, "dev-mail")


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    yield context.new_page()
    context.close()


def test_the_reset_pages_pass_axe_and_fit_a_phone_screen(phone: Page, demo: Demo) -> None:
    page, person = phone, demo.new_person("Pat Phone")
    problems: dict[str, Any] = {}

    def check(name: str) -> None:
        found = {"axe": axe_violations(page), "overflow_px": horizontal_overflow(page)}
        if found != {"axe": [], "overflow_px": 0}:
            problems[name] = found

    page.goto(f"{demo.issuer}/password/forgot")
    check("forgot")
    ask_for_a_link(page, demo, person)
    check("forgot: sent")
    open_the_mailed_link(page, demo, person)
    check("reset")
    page.get_by_label("New password").fill(person.email)  # long enough, but refused
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check("reset: refused")
    choose_a_new_password(page, demo)
    check("login: notice")
    page.goto(f"{demo.issuer}/dev/mail")
    check("dev mail")

    assert problems == {}, pformat(problems, width=100)
