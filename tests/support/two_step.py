"""Two-step verification (RFC 6238 TOTP) as a user drives it: enrolment, codes, the login step."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import httpx
import pyotp

from tests.support.clock import TestClock
from tests.support.flows import csrf_from

PERIOD = 30
_KEY = re.compile(r"Enter this key: <code>([A-Z2-7 ]+)</code>")
_RECOVERY = re.compile(r"<li><code>([^<]*)</code></li>")


def totp_code(secret: str, at: datetime, *, steps: int = 0) -> str:
    """The code an authenticator app shows at `at`, or `steps` time steps away from it."""
    return pyotp.TOTP(secret).at(int(at.timestamp()) + steps * PERIOD)


def wrong_code(secret: str, at: datetime) -> str:
    """A well-formed six-digit code that matches none of the steps around `at`."""
    valid = {totp_code(secret, at, steps=s) for s in range(-2, 3)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def start_next_step(clock: TestClock) -> None:
    """Move the app's clock just past the next step boundary: a fresh code, ~29 s to use it."""
    clock.advance(PERIOD - clock().timestamp() % PERIOD + 0.01)


def key_from(page: httpx.Response) -> str:
    match = _KEY.search(page.text)
    assert match is not None, page.text
    return match.group(1).replace(" ", "")


def recovery_codes_from(page: httpx.Response) -> list[str]:
    return _RECOVERY.findall(page.text)


@dataclass(frozen=True)
class Enrolment:
    secret: str
    recovery_codes: list[str]


async def enrol(auth: httpx.AsyncClient, clock: TestClock, password: str) -> Enrolment:
    """Enrol the signed-in user (whose password is `password`), then move to a fresh time step
    (the enrolment code's is used)."""
    page = await auth.get("/account/two-factor")
    assert page.status_code == 200, page.text
    secret = key_from(page)
    done = await auth.post(
        "/account/two-factor",
        data={
            "code": totp_code(secret, clock()),
            "current_password": password,
            "csrf_token": csrf_from(page.text),
        },
    )
    assert done.status_code == 200, done.text
    start_next_step(clock)
    return Enrolment(secret, recovery_codes_from(done))


async def submit_code(
    auth: httpx.AsyncClient, code: str, *, request_id: str = "", next_path: str = ""
) -> httpx.Response:
    """Open /login/second-factor for its CSRF token and post `code`."""
    page = await auth.get(
        "/login/second-factor", params={"request_id": request_id, "next": next_path}
    )
    assert page.status_code == 200, page.text
    return await auth.post(
        "/login/second-factor",
        data={
            "code": code,
            "request_id": request_id,
            "next": next_path,
            "csrf_token": csrf_from(page.text),
        },
    )
