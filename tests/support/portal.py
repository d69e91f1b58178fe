"""The self-service pages as a browser drives them: forms with their CSRF token, other browsers
(other cookie jars, other client addresses), the developer portal's app form, and audit rows."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from shared.models import AuditEvent, Client
from tests.conftest import ISSUER
from tests.factories import TestClient, TestUser
from tests.support.db import Database
from tests.support.flows import csrf_from
from tests.support.lifecycle import snapshot
from tests.support.pages import sign_in

FORM_EXPIRED = "This form has expired. Please try again."
DEFAULT_IP = "127.0.0.1"  # httpx.ASGITransport's default client address

_ERROR = re.compile(r'<p class="error" role="alert">(.*?)</p>', re.S)
_CREDENTIAL = re.compile(r"<dd><code>([^<]*)</code></dd>")


def page_error(page: httpx.Response) -> str | None:
    """The unescaped text of the page's error paragraph, or None when it shows none."""
    match = _ERROR.search(page.text)
    return html.unescape(match.group(1)) if match else None


def browser(app: FastAPI, *, ip: str = DEFAULT_IP) -> httpx.AsyncClient:
    """Another browser (its own cookie jar) on `app`, connecting from `ip`."""
    transport = httpx.ASGITransport(app=app, client=(ip, 123))
    return httpx.AsyncClient(transport=transport, base_url=ISSUER)


@asynccontextmanager
async def signed_in(
    app: FastAPI, user: TestUser, *, ip: str = DEFAULT_IP
) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser with its own session of `user`."""
    async with browser(app, ip=ip) as other:
        await sign_in(other, user)
        yield other


async def submit(
    auth: httpx.AsyncClient, page_path: str, action: str, data: dict[str, str]
) -> httpx.Response:
    """Open `page_path` for its form's CSRF token, then POST `data` with it to `action`."""
    page = await auth.get(page_path)
    assert page.status_code == 200, page.text
    return await auth.post(action, data={**data, "csrf_token": csrf_from(page.text)})


async def audit_events(db: Database, event: str) -> list[AuditEvent]:
    return list(await db.all(AuditEvent, AuditEvent.event == event))


async def database_text(db: Database) -> str:
    """Every row of every table as one string, to prove a secret is stored nowhere."""
    return json.dumps(await snapshot(db), default=str)


# --- The developer portal ---


def app_form(**overrides: str | None) -> dict[str, str]:
    """The fields of the portal's app form (one `scope-<name>` checkbox per scope); None drops one."""
    values: dict[str, str | None] = {
        "name": "Photo Printer",
        "homepage_uri": "https://printer.example",
        "logo_uri": "https://printer.example/logo.png",
        "redirect_uris": "https://printer.example/callback",
        "post_logout_redirect_uris": "https://printer.example/bye",
        "scope-openid": "on",
        "scope-profile": "on",
        "scope-read:notes": "on",
        "client_type": "confidential",
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


async def register_app(auth: httpx.AsyncClient, **overrides: str | None) -> httpx.Response:
    return await submit(auth, "/developers/apps/new", "/developers/apps", app_form(**overrides))


def credentials_from(page: httpx.Response) -> tuple[str, str | None]:
    """(client_id, client_secret or None) from the page shown after registration or rotation."""
    assert page.status_code == 200, page.text
    values = [html.unescape(v) for v in _CREDENTIAL.findall(page.text)]
    assert len(values) in (1, 2), values
    return values[0], values[1] if len(values) == 2 else None


async def as_test_client(db: Database, client_id: str, secret: str | None) -> TestClient:
    """The registered row with the secret the page showed, for the flow helpers."""
    row = await db.get(Client, client_id)
    assert row is not None
    return TestClient(row, secret)
