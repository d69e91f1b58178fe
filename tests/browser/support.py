"""What the browser tests share: the demo stack, people to sign in as, page steps, and checks."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Page, expect

from shared.database import make_engine
from shared.models import Note, User
from tests.factories import make_user
from tests.support.databases import IN_CI
from tests.support.db import Database
from tests.support.live import LiveStack

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
# Headless in a container: no sandbox (no user namespaces), no GPU, nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
AXE_JS = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
# The basics every page must pass (WCAG 2 A/AA): labels, titles, contrast, language, alt text.
AXE_RULES = ["label", "document-title", "color-contrast", "html-has-lang", "image-alt"]

T = TypeVar("T")


def require(condition: bool, message: str) -> None:
    """A missing browser or npm package fails in CI and skips on a laptop."""
    if not condition:
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@dataclass(frozen=True)
class Person:
    id: str
    username: str
    password: str
    name: str
    email: str = ""


@dataclass(frozen=True)
class Demo:
    stack: LiveStack
    credentials: dict[str, str]

    @property
    def app_url(self) -> str:
        return self.stack.coolnotes_url

    @property
    def issuer(self) -> str:
        return self.stack.issuer

    @property
    def demo_user(self) -> Person:
        user_id = self._in_db(lambda db: _user_id(db, self.credentials["username"]))
        return Person(
            user_id, self.credentials["username"], self.credentials["password"], "Demo User"
        )

    def new_person(self, name: str) -> Person:
        username = f"{name.split()[0].lower()}{secrets.token_hex(3)}"
        email = f"{username}@example.com"
        user = self._in_db(lambda db: make_user(db, username=username, name=name, email=email))
        return Person(user.id, username, user.password, name, email)

    def add_note(self, person: Person, title: str, body: str = "") -> None:
        now = datetime.now(UTC)
        note = Note(owner_id=person.id, title=title, body=body, created_at=now, updated_at=now)
        self._in_db(lambda db: db.add(note))

    def note_titles(self, person: Person) -> list[str]:
        notes = self._in_db(lambda db: db.all(Note, Note.owner_id == person.id))
        return sorted(note.title for note in notes)

    def _in_db(self, work: Callable[[Database], Awaitable[T]]) -> T:
        async def run() -> T:
            engine = make_engine(self.stack.database_url)
            try:
                return await work(Database(engine))
            finally:
                await engine.dispose()

        # Playwright's sync API owns this thread's event loop; the database work gets its own.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, run()).result()


async def _user_id(db: Database, username: str) -> str:
    [user] = await db.all(User, User.username == username)
    return user.id


# How long a step or an expectation may wait for the page: generous, since CI shares two cores
# between the suite's workers, three servers and Chromium (a page once took over 5 s to show
# its first link there).
ACTION_TIMEOUT_MS = 15_000
expect.set_options(timeout=ACTION_TIMEOUT_MS)


# --- steps of the journey, as a person does them -----------------------------------------------


def open_app(page: Page, demo: Demo) -> None:
    page.goto(f"{demo.app_url}/")


def start_login(page: Page, demo: Demo) -> None:
    open_app(page, demo)
    page.get_by_role("link", name="Login with MyAuthProvider").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(demo.issuer)}/login\?"))


def sign_in(page: Page, person: Person, *, password: str | None = None) -> None:
    page.get_by_label("Username").fill(person.username)
    page.get_by_label("Password").fill(password or person.password)
    page.get_by_role("button", name="Sign in").click()


def expect_consent_page(page: Page, demo: Demo) -> None:
    expect(page).to_have_url(re.compile(rf"^{re.escape(demo.issuer)}/consent\?"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "CoolNotesApp wants to access your account"
    )


def expect_signed_in(page: Page, demo: Demo, person: Person) -> None:
    expect(page).to_have_url(f"{demo.app_url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {person.name}")


def log_in_and_allow(page: Page, demo: Demo, person: Person) -> None:
    start_login(page, demo)
    sign_in(page, person)
    expect_consent_page(page, demo)
    page.get_by_role("button", name="Allow").click()
    expect_signed_in(page, demo, person)


# --- evidence ----------------------------------------------------------------------------------


def screenshot(page: Page, name: str) -> Path:
    """Written on every run; docs/screenshots holds the committed copies the README shows."""
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core in the page (evaluated over the DevTools protocol, so the page's CSP allows it)."""
    require(AXE_JS.is_file(), "needs `npm ci --prefix tests/browser` (make test does it)")
    page.evaluate(AXE_JS.read_text())
    options = {"runOnly": {"type": "rule", "values": AXE_RULES}}
    result: dict[str, Any] = page.evaluate("options => axe.run(document, options)", options)
    return [
        {"rule": v["id"], "targets": [n["target"] for n in v["nodes"]], "help": v["help"]}
        for v in result["violations"]
    ]


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the viewport (0: no sideways scrolling)."""
    overflow: int = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return overflow
