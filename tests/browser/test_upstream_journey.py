"""Signing in with another provider in Chromium (issue 16): a second auth service on 127.0.0.1
is the upstream of ours on localhost. Rosa has an account here and one at the upstream with the
same address: she signs in through the upstream, proves the account is hers with its password,
links it, and next time the upstream alone signs her in. Otto, new here, gets an account."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from shared.models import UpstreamLink, User
from tests.browser.support import ACTION_TIMEOUT_MS, axe_violations, horizontal_overflow, screenshot
from tests.support.live import rows
from tests.support.upstream import PROVIDER, Brokered, brokered_stacks

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brokered]:
    with brokered_stacks(tmp_path_factory.mktemp("upstream-journey")) as brokered:
        brokered.our_user("rosa", "rosa@example.com")
        brokered.upstream_user("rosa-up", "rosa@example.com")
        brokered.upstream_user("otto", "otto@example.com")
        yield brokered


@pytest.fixture(scope="module")
def browser(stacks: Brokered, browser: Browser) -> Browser:
    """The package's Chromium, started after this module's stacks (their set-up runs event
    loops of its own, which Playwright's would refuse)."""
    return browser


def in_thread(function: object, *args: object) -> object:
    """Database reads run asyncio.run: on a thread of their own, away from Playwright's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()  # type: ignore[arg-type]


def links(stacks: Brokered) -> list[UpstreamLink]:
    found: list[UpstreamLink] = in_thread(rows, stacks.ours, UpstreamLink)  # type: ignore[assignment]
    return found


def user_id(stacks: Brokered, username: str) -> str:
    users: list[User] = in_thread(rows, stacks.ours, User)  # type: ignore[assignment]
    return next(u.id for u in users if u.username == username)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 800, "height": 720})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    yield context
    context.close()


def through_the_upstream(page: Page, stacks: Brokered, username: str) -> None:
    """From our login page to the upstream, signed in and allowed there, and back."""
    page.goto(f"{stacks.ours.issuer}/login")
    page.get_by_role("button", name="Sign in with Upstream ID").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert page.url.startswith(f"{stacks.upstream.issuer}/login?")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("upstream-pass-1")
    page.get_by_role("button", name="Sign in", exact=True).click()
    # The upstream asks for consent once per person; after that it sends the browser straight back.
    page.wait_for_url(lambda url: "/consent?" in url or url.startswith(stacks.ours.issuer))
    if "/consent?" in page.url:
        page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{stacks.ours.issuer}/**")


def test_rosa_links_her_upstream_account_after_her_password_then_signs_in_with_it_alone(
    context: BrowserContext, stacks: Brokered
) -> None:
    page = context.new_page()
    through_the_upstream(page, stacks, "rosa-up")

    expect(page.get_by_role("status")).to_contain_text("An account here has the email address")
    assert page.url.startswith(f"{stacks.ours.issuer}/login?")
    page.get_by_label("Username").fill("rosa")
    page.get_by_label("Password").fill("our-password-1")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Link Upstream ID?")
    screenshot(page, "upstream-link")
    page.get_by_role("button", name="Link Upstream ID").click()
    assert [(link.provider_id, link.user_id) for link in links(stacks)] == [
        (PROVIDER, user_id(stacks, "rosa"))
    ]

    later = context.browser.new_context()  # type: ignore[union-attr]
    try:
        again = later.new_page()
        through_the_upstream(again, stacks, "rosa-up")
        again.goto(f"{stacks.ours.issuer}/account/providers")
        expect(again.get_by_role("heading", level=1)).to_have_text("Sign-in providers")
        expect(again.get_by_text("rosa@example.com")).to_be_visible()
        screenshot(again, "upstream-providers")
    finally:
        later.close()


def test_otto_new_here_gets_an_account_from_his_first_sign_in(
    context: BrowserContext, stacks: Brokered
) -> None:
    page = context.new_page()
    through_the_upstream(page, stacks, "otto")
    page.goto(f"{stacks.ours.issuer}/account")

    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.get_by_text("You have no password")).to_be_visible()
    assert user_id(stacks, "otto") in {link.user_id for link in links(stacks)}
    # The README's pictures of the other account pages, taken of a real session.
    page.goto(f"{stacks.ours.issuer}/account/sessions")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    screenshot(page, "account-sessions")
    page.goto(f"{stacks.ours.issuer}/account/delete")
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete your account")
    screenshot(page, "account-delete")


def test_the_brokering_pages_pass_axe_and_fit_a_phone_screen(
    browser: Browser, stacks: Brokered
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        page = context.new_page()
        problems: dict[str, object] = {}
        page.goto(f"{stacks.ours.issuer}/login")
        found = {"axe": axe_violations(page), "overflow_px": horizontal_overflow(page)}
        if found != {"axe": [], "overflow_px": 0}:
            problems["login"] = found
        through_the_upstream(page, stacks, "otto")
        for path in ("/account/providers", "/account", "/account/delete"):
            page.goto(f"{stacks.ours.issuer}{path}")
            found = {"axe": axe_violations(page), "overflow_px": horizontal_overflow(page)}
            if found != {"axe": [], "overflow_px": 0}:
                problems[path] = found
        assert problems == {}
    finally:
        context.close()
