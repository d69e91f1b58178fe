"""Accounts made and linked by upstream sign-ins (issue 16), in process on SQLite and
PostgreSQL, with the upstream played by MockTransports (tests/support/fake_upstream.py): sign-up
rules, the linked-provider notice, and the one-link-per-provider rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth_service.config import AuthSettings
from auth_service.identity.brokering.upstream_client import UpstreamClient
from auth_service.main import create_app
from shared.models import UpstreamLink, UpstreamProvider, User
from tests.conftest import ISSUER as OUR_ISSUER
from tests.factories import make_user
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.fake_upstream import CLIENT_ID, ISSUER, FakeUpstream
from tests.support.flows import csrf_from
from tests.support.mail import Catcher, text_of, with_mail
from tests.support.portal import browser

PASSWORD = "correct horse battery"  # noqa: S105 - a test account


async def brokered_app(
    settings: AuthSettings, clock: TestClock, db: Database, upstream: FakeUpstream
) -> AsyncIterator[FastAPI]:
    app = create_app(settings, clock=clock)
    async with LifespanManager(app):
        await app.state.upstream_client.aclose()
        app.state.upstream_client = UpstreamClient(allow_http=False, **upstream.transports())
        await db.add(UpstreamProvider(
            id="idp", name="Upstream ID", kind="oidc", issuer=ISSUER, client_id=CLIENT_ID,
            client_secret_encrypted=app.state.secret_box.encrypt("s"), scope="openid email",
            created_at=datetime.now(UTC),
        ))  # fmt: skip
        yield app


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


async def through_upstream(
    client: httpx.AsyncClient, upstream: FakeUpstream, sub: str, email: str,
    start: httpx.Response | None = None,
) -> httpx.Response:  # fmt: skip
    """Press "Sign in with Upstream ID" (unless `start` is a started flow), and come back
    from the upstream as `sub`."""
    if start is None:
        page = await client.get("/login")
        start = await client.post("/login/upstream/idp", data={
            "csrf_token": csrf_from(page.text), "request_id": "", "next": "",
        })  # fmt: skip
    assert start.status_code == 303, start.text
    query = parse_qs(urlsplit(start.headers["location"]).query)
    upstream.claims = {"sub": sub, "email": email, "nonce": query["nonce"][0]}
    upstream.userinfo = {"sub": sub, "email": email}
    back = urlencode({"code": "c", "state": query["state"][0], "iss": ISSUER})
    return await client.get(f"/login/upstream/idp/callback?{back}")


async def test_with_sign_up_closed_an_upstream_makes_no_account(
    settings: AuthSettings, clock: TestClock, db: Database, upstream: FakeUpstream
) -> None:
    closed = settings.model_copy(update={"signup_enabled": False})
    async for app in brokered_app(closed, clock, db, upstream):
        async with browser(app) as person:
            refused = await through_upstream(person, upstream, "u-1", "new@example.com")

    assert refused.status_code == 403
    assert "does not make new accounts" in refused.text
    assert await db.count(User) == 0 and await db.count(UpstreamLink) == 0


async def test_accounts_made_by_upstreams_count_against_the_sign_up_limit(
    settings: AuthSettings, clock: TestClock, db: Database, upstream: FakeUpstream
) -> None:
    limited = settings.model_copy(update={"signup_limit_per_ip": 1})
    async for app in brokered_app(limited, clock, db, upstream):
        async with browser(app) as first, browser(app) as second:
            made = await through_upstream(first, upstream, "u-1", "one@example.com")
            refused = await through_upstream(second, upstream, "u-2", "two@example.com")

    assert made.status_code == 303
    assert refused.status_code == 429 and refused.headers["retry-after"].isdigit()
    assert [u.email for u in await db.all(User)] == ["one@example.com"]


async def test_a_link_made_from_the_account_page_is_mailed_to_the_owner(
    settings: AuthSettings, clock: TestClock, db: Database, upstream: FakeUpstream,
    catcher: Catcher,
) -> None:  # fmt: skip
    owner = await make_user(db, username="ada", email="ada@example.com", password=PASSWORD)
    async for app in brokered_app(with_mail(settings, catcher), clock, db, upstream):
        async with browser(app) as person:
            page = await person.get("/login")
            await person.post("/login", data={
                "username": "ada", "password": PASSWORD, "csrf_token": csrf_from(page.text),
                "request_id": "", "next": "",
            })  # fmt: skip
            page = await person.get("/account/providers")
            started = await person.post("/account/providers/link", data={
                "csrf_token": csrf_from(page.text), "provider_id": "idp",
                "current_password": PASSWORD,
            })  # fmt: skip
            linked = await through_upstream(
                person, upstream, "u-ada", "ada-work@example.com", start=started
            )
            (notice,) = await catcher.wait_for(1)

    assert linked.headers["location"] == "/account/providers?message=linked"
    (link,) = await db.all(UpstreamLink)
    assert (link.user_id, link.subject) == (owner.id, "u-ada")
    assert notice["To"] == "ada@example.com"
    assert "can now be signed in to with Upstream ID as ada-work@example.com" in text_of(notice)
    assert f"{OUR_ISSUER}/account/providers" in text_of(notice)


async def test_an_account_links_one_account_per_provider(
    settings: AuthSettings, clock: TestClock, db: Database, upstream: FakeUpstream
) -> None:
    async for app in brokered_app(settings, clock, db, upstream):
        async with browser(app) as person:
            await through_upstream(person, upstream, "u-first", "bo@example.com")
            page = await person.get("/account/providers")
            started = await person.post("/account/providers/link", data={
                "csrf_token": csrf_from(page.text), "provider_id": "idp",
            })  # fmt: skip
            second: Any = await through_upstream(
                person, upstream, "u-second", "bo-2@example.com", start=started
            )

    assert second.status_code == 409
    assert "Another Upstream ID account is linked to yours already." in second.text
    assert [link.subject for link in await db.all(UpstreamLink)] == ["u-first"]


async def test_without_a_password_a_stale_sign_in_neither_links_nor_deletes(
    settings: AuthSettings, clock: TestClock, db: Database, upstream: FakeUpstream
) -> None:
    async for app in brokered_app(settings, clock, db, upstream):
        async with browser(app) as person:
            await through_upstream(person, upstream, "u-cy", "cy@example.com")
            (cy,) = await db.all(User)
            clock.advance(11 * 60)  # the sign-in is now older than ten minutes
            page = await person.get("/account/delete")
            deleting = await person.post("/account/delete", data={
                "csrf_token": csrf_from(page.text), "username": cy.username,
            })  # fmt: skip
            page = await person.get("/account/providers")
            linking = await person.post("/account/providers/link", data={
                "csrf_token": csrf_from(page.text), "provider_id": "idp",
            })  # fmt: skip

    assert deleting.status_code == 400 and "more than 10 minutes ago" in deleting.text
    assert linking.status_code == 400 and "more than 10 minutes ago" in linking.text
    assert [u.id for u in await db.all(User)] == [cy.id]
    assert [link.subject for link in await db.all(UpstreamLink)] == ["u-cy"]
