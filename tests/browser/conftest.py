"""Fixtures for the browser tests: the three live processes, Debian's Chromium, a page per test.

One stack serves the package (starting three uvicorn processes is most of its cost); every test
signs in as its own new person, so tests share no state but the processes. Chromium lives per
module: Playwright's sync API holds an event loop on the main thread while it runs, which
asyncio tests (here and in the rest of the suite) must not meet.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.support import (
    ACTION_TIMEOUT_MS,
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    Demo,
    require,
)
from tests.support.databases import fresh_database
from tests.support.live import live_stack
from tests.support.mail import running_catcher

# The resource API learns revocations by polling the issuer; fast here so journey 5 is quick.
REVOCATION_POLL_INTERVAL = "0.5"


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`make run`, on free ports: auth, resource API, CoolNotesApp seeded like the demo."""
    tmp_path = tmp_path_factory.mktemp("browser")
    mail = tmp_path / "mail"
    with (
        fresh_database(tmp_path) as url,
        live_stack(url, tmp_path) as stack,
        running_catcher(mail) as catcher,  # as `make run` does: mail shows at /dev/mail
    ):
        stack.start_auth(
            AUTH_SMTP_URL=catcher.url, AUTH_DEV_MAIL_DIR=str(mail), AUTH_MAIL_POLL_INTERVAL="0.2"
        )
        stack.start_resource(RESOURCE_REVOCATION_POLL_INTERVAL=REVOCATION_POLL_INTERVAL)
        credentials = stack.cli(
            "demo", "seed", "--credentials-file", str(tmp_path / "demo-credentials.json"),
            COOLNOTES_PUBLIC_URL=stack.coolnotes_url,
        )  # fmt: skip
        stack.start_coolnotes(credentials["client_id"], credentials["client_secret"])
        yield Demo(stack, credentials)


@pytest.fixture(scope="session")
def chromium() -> Path:
    require(CHROMIUM.is_file(), f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path, demo: Demo) -> Iterator[Browser]:
    # After the stack: from here on Playwright's sync API runs an event loop on this thread,
    # and the stack's set-up (migrations) runs one of its own with asyncio.run.
    with sync_playwright() as playwright:
        # Debian's Chromium, never Playwright's own download (`playwright install` cannot run here).
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


_FAILED = pytest.StashKey[bool]()  # set when a test's call phase failed, read by `page`


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture
def page(browser: Browser, demo: Demo, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser profile (no cookies) at the width the README screenshots use."""
    context = browser.new_context(viewport={"width": 800, "height": 720})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    yield page
    if request.node.stash.get(_FAILED, False):
        # What the user saw, and what the three servers said meanwhile.
        failures = ARTIFACTS / "failures"
        page.screenshot(path=failures / f"{request.node.name}.png", full_page=True)
        logs = "".join(f"== {s.name}\n{s.log()[-20_000:]}\n" for s in demo.stack.services.values())
        (failures / f"{request.node.name}.log").write_text(logs)
    context.close()
