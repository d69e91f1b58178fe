"""The user's journeys through CoolNotesApp and MyAuthProvider, in Chromium, asserting what they see.

(1) first login with consent, (2) deny, (3) wrong password, (4) a second login skips consent,
(5) revoking the app in /account/apps sends the user back to the login button, (6) notes.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from shared.scopes import SCOPES
from tests.browser.support import (
    Demo,
    expect_consent_page,
    expect_signed_in,
    log_in_and_allow,
    open_app,
    screenshot,
    sign_in,
    start_login,
)

pytestmark = pytest.mark.e2e

# CoolNotesApp asks for these (coolnotes.provider.SCOPE); the consent page words each one.
REQUESTED = ["openid", "profile", "read:notes", "write:notes", "offline_access"]
LOGIN_AGAIN = "Please log in again."


def _plain_words(scope: str) -> str:
    description = SCOPES[scope].description
    return description[0].upper() + description[1:]


def test_first_login_asks_consent_then_shows_the_users_name_and_notes(
    page: Page, demo: Demo
) -> None:
    # The README's journey, with the seeded demo account.
    person = demo.demo_user
    demo.add_note(person, "Welcome to CoolNotesApp", "Your notes live in the notes API.")
    demo.add_note(person, "Groceries", "Eggs, milk, bread")
    stranger = demo.new_person("Stranger Danger")
    demo.add_note(stranger, "Not for the demo user")

    open_app(page, demo)
    expect(page).to_have_title("CoolNotesApp")
    screenshot(page, "coolnotes-signed-out")
    start_login(page, demo)
    expect(page).to_have_title("Sign in · MyAuthProvider")
    expect(page.get_by_text("to continue to CoolNotesApp")).to_be_visible()
    page.get_by_label("Username").fill(person.username)
    screenshot(page, "login")
    sign_in(page, person)

    expect_consent_page(page, demo)
    for scope in REQUESTED:
        expect(page.get_by_text(_plain_words(scope), exact=True)).to_be_visible()
    screenshot(page, "consent")
    page.get_by_role("button", name="Allow").click()

    expect_signed_in(page, demo, person)
    expect(page).to_have_title("Your notes · CoolNotesApp")
    notes = page.get_by_role("list").filter(has=page.get_by_role("heading", level=3))
    expect(notes.get_by_role("heading", level=3)).to_have_text(
        ["Groceries", "Welcome to CoolNotesApp"]
    )
    expect(page.get_by_text("Eggs, milk, bread")).to_be_visible()
    expect(page.get_by_text("Not for the demo user")).to_have_count(0)
    # Tokens stay on CoolNotesApp's server: the browser holds one opaque session cookie there.
    app_cookies = [c for c in page.context.cookies() if c["name"].startswith("coolnotes")]
    assert [(c["name"], c["httpOnly"]) for c in app_cookies] == [("coolnotes_session", True)]
    screenshot(page, "coolnotes")


def test_deny_on_consent_returns_to_the_app_saying_access_was_refused(
    page: Page, demo: Demo
) -> None:
    person = demo.new_person("Denise Deny")
    start_login(page, demo)
    sign_in(page, person)
    expect_consent_page(page, demo)

    page.get_by_role("button", name="Deny").click()

    expect(page).to_have_url(f"{demo.app_url}/?notice=access-denied")
    expect(page.get_by_role("status")).to_contain_text("Access was refused")
    expect(page.get_by_role("link", name="Login with MyAuthProvider")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Hello"))).to_have_count(0)


def test_wrong_password_shows_an_error_on_the_login_form_without_redirecting(
    page: Page, demo: Demo
) -> None:
    person = demo.new_person("Wanda Wrong")
    start_login(page, demo)
    login_url = page.url

    sign_in(page, person, password="not-my-password")

    expect(page.get_by_role("alert")).to_have_text("The username or password is not right.")
    expect(page).to_have_url(re.compile(rf"^{re.escape(demo.issuer)}/login"))
    expect(page.get_by_label("Username")).to_have_value(person.username)
    expect(page.get_by_label("Password")).to_have_value("")
    assert page.url.split("?")[0] == login_url.split("?")[0]


def test_second_login_after_logout_skips_the_consent_screen(page: Page, demo: Demo) -> None:
    person = demo.new_person("Sam Second")
    log_in_and_allow(page, demo, person)

    # RP-initiated logout ends both sessions and comes back to CoolNotesApp.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{demo.app_url}/?notice=signed-out")
    expect(page.get_by_role("status")).to_have_text(
        "You are signed out of CoolNotesApp and MyAuthProvider."
    )
    visited: list[str] = []
    page.on("framenavigated", lambda frame: visited.append(frame.url))
    start_login(page, demo)  # the provider asks for the password again: its session ended
    sign_in(page, person)

    expect_signed_in(page, demo, person)
    assert not [url for url in visited if "/consent" in url], visited


def test_revoking_the_app_makes_it_ask_the_user_to_log_in_again(page: Page, demo: Demo) -> None:
    person = demo.new_person("Riley Revoke")
    log_in_and_allow(page, demo, person)

    page.goto(f"{demo.issuer}/account/apps")
    expect(page.get_by_role("heading", name="CoolNotesApp")).to_be_visible()
    screenshot(page, "connected-apps")
    page.get_by_role("button", name="Revoke access for CoolNotesApp").click()
    expect(page.get_by_role("status")).to_contain_text("Access removed")

    # The API learns of the revocation within one poll of the issuer's feed (0.5 s here):
    # its 401 makes CoolNotesApp try its refresh token, which the provider refuses.
    deadline = time.monotonic() + 10
    while True:
        open_app(page, demo)
        if page.url != f"{demo.app_url}/" or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    expect(page).to_have_url(f"{demo.app_url}/?notice=login-again")
    expect(page.get_by_role("status")).to_contain_text(LOGIN_AGAIN)
    expect(page.get_by_role("link", name="Login with MyAuthProvider")).to_be_visible()


def test_add_and_delete_a_note(page: Page, demo: Demo) -> None:
    person = demo.new_person("Nora Notes")
    log_in_and_allow(page, demo, person)
    expect(page.get_by_text("No notes yet.")).to_be_visible()

    for title, body in [("Buy milk", "Two litres"), ("Call Ada", "About the demo")]:
        page.get_by_label("Title").fill(title)
        page.get_by_label("Note", exact=True).fill(body)
        page.get_by_role("button", name="Add note").click()
        expect(page.get_by_role("heading", name=title, level=3)).to_be_visible()
    assert demo.note_titles(person) == ["Buy milk", "Call Ada"]

    page.get_by_role("button", name="Delete note: Buy milk").click()

    expect(page.get_by_role("heading", name="Buy milk")).to_have_count(0)
    expect(page.get_by_role("heading", name="Call Ada", level=3)).to_be_visible()
    expect(page.get_by_text("Two litres")).to_have_count(0)
    assert demo.note_titles(person) == ["Call Ada"]
