"""examples/notes_cli.py, the README's device-grant example (RFC 8628), as a real subprocess
against real uvicorn auth and resource services with the data `auth-service demo seed` leaves.
The person's part (the code on a second screen, sign-in, allow) is played over HTTP."""

from __future__ import annotations

import asyncio
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shared.database import make_engine
from shared.models import DeviceAuthorization, Note, User
from tests.support.databases import fresh_database
from tests.support.db import Database
from tests.support.flows import csrf_from
from tests.support.live import LiveStack, live_stack, rows

pytestmark = pytest.mark.e2e
CLI = Path(__file__).resolve().parents[2] / "examples" / "notes_cli.py"
PROMPT = re.compile(r"^and enter the code ([A-Z]{4}-[A-Z]{4})$")
TITLES = ("Buy milk", "Call the dentist")
# Another user's words reach the terminal: escape sequences and bidi overrides must not.
HOSTILE_TITLE = "\x1b[2J\x1b[31mPay \u202eyenom\u202c now\x07"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LiveStack]:
    with fresh_database(tmp_path) as url, live_stack(url, tmp_path) as live:
        # One second between polls keeps the test short; the CLI honours whatever it is given.
        live.start_auth(AUTH_DEVICE_POLL_INTERVAL="1")
        live.start_resource()
        live.cli("demo", "seed", "--credentials-file", str(tmp_path / "demo.json"))
        yield live


def add_notes(stack: LiveStack, username: str, titles: tuple[str, ...]) -> None:
    """Arrange the user's notes straight in the database, as the resource service stores them."""

    async def add() -> None:
        engine = make_engine(stack.database_url, sqlite_begin_immediate=False)
        try:
            db = Database(engine)
            (user,) = await db.all(User, User.username == username)
            now = datetime.now(UTC)
            await db.add(
                *(Note(owner_id=user.id, title=t, created_at=now, updated_at=now) for t in titles)
            )
        finally:
            await engine.dispose()

    asyncio.run(add())


class Output:
    """The CLI's stdout, line by line as it prints, read by a thread so a test can wait with a
    deadline (a select on a buffered pipe would miss lines already read into the buffer)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next(self, timeout: float = 30) -> str:
        line = self.lines.get(timeout=timeout)
        assert line is not None, f"the CLI ended early after {self.seen}"
        self.seen.append(line)
        return line

    def rest(self, timeout: float = 30) -> list[str]:
        """Every further line until the CLI closes its output."""
        lines = []
        while (line := self.lines.get(timeout=timeout)) is not None:
            lines.append(line)
        self._thread.join(timeout)
        return lines


def allow_on_second_screen(stack: LiveStack, user_code: str) -> None:
    """The person: open /device, type the code, sign in as asked, and allow."""
    with httpx.Client(base_url=stack.issuer) as phone:
        page = phone.get("/device")
        entered = phone.post(
            "/device", data={"user_code": user_code, "csrf_token": csrf_from(page.text)}
        )
        assert entered.status_code == 303, entered.text
        to_login = phone.get(entered.headers["location"])
        assert to_login.status_code == 303, to_login.text
        login_page = phone.get(to_login.headers["location"])
        next_path = httpx.URL(to_login.headers["location"]).params["next"]
        logged_in = phone.post(
            "/login",
            data={
                "username": "demo",
                "password": "demo-password-1",
                "next": next_path,
                "csrf_token": csrf_from(login_page.text),
            },
        )
        assert logged_in.status_code == 303, logged_in.text
        assert logged_in.headers["location"] == next_path
        consent = phone.get(next_path)
        assert consent.status_code == 200, consent.text
        assert "a device is asking" in consent.text
        assert "Notes CLI" in consent.text
        done = phone.post(
            "/device/consent",
            data={"allow": "allow", "user_code": user_code, "csrf_token": csrf_from(consent.text)},
        )
        assert done.status_code == 200, done.text


def test_notes_cli_signs_in_with_a_code_on_a_second_screen_and_lists_the_notes(
    stack: LiveStack,
) -> None:
    add_notes(stack, "demo", (*TITLES, HOSTILE_TITLE))
    process = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, str(CLI), "--issuer", stack.issuer, "--api", stack.audience],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        output = Output(process)
        assert output.next() == f"To sign in, open {stack.issuer}/device"
        prompt = PROMPT.match(output.next())
        assert prompt is not None
        user_code = prompt.group(1)
        assert output.next() == f"(or open {stack.issuer}/device?user_code={user_code})"
        assert output.next() == "Waiting for you to allow it..."
        time.sleep(1.5)  # let the CLI poll while nobody has answered yet

        allow_on_second_screen(stack, user_code)

        rest = output.rest()
        returncode = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stderr is not None
        err = process.stderr.read()
        process.stderr.close()
        assert process.stdout is not None
        process.stdout.close()
    assert returncode == 0, err
    assert rest[0] == "Signed in."
    assert sorted(rest[1:]) == sorted(f"- {title}" for title in (*TITLES, "[2J[31mPay yenom now"))
    assert not any(ch in line for line in rest for ch in "\x1b\x07\u202e\u202c")
    (row,) = rows(stack, DeviceAuthorization)
    assert row.status == "approved"
    assert row.used_at is not None
    assert row.last_polled_at is not None  # it polled before the answer
    assert row.interval == 1  # and never too fast


def test_notes_cli_refuses_metadata_of_another_issuer(stack: LiveStack) -> None:
    """RFC 8414 §3.3: the same server under another name (localhost) is another issuer."""
    other_name = stack.issuer.replace("127.0.0.1", "localhost")
    result = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, str(CLI), "--issuer", other_name, "--api", stack.audience],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Sign-in failed: the metadata names the issuer {stack.issuer!r}, not {other_name!r}\n"
    )
    assert rows(stack, DeviceAuthorization) == []
