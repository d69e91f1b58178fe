"""A client change made anywhere (another instance, the admin CLI's process) is honoured by every
instance within the revocation feed's propagation time, at once with Redis (issue 13, part 6).

Two auth apps share one database, each with its own client cache, kept for an hour here: only
the change notice on the feed (or its Redis announcement) can make the other instance forget
the client, never the cache's expiry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth_service.clients.registry import ClientChanges, rotate_client_secret, update_client
from auth_service.config import AuthSettings
from auth_service.main import create_app
from auth_service.repositories import Repositories
from auth_service.revocations.mirror import RevocationMirror
from shared.models import Client, RevocationEvent, SigningKey
from shared.revocations import CLIENT_CHANGED, RevocationList, announcement
from tests.conftest import ISSUER
from tests.factories import TestClient, make_client, make_user
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.lifecycle import bearer, introspect
from tests.support.pages import sign_in
from tests.support.portal import credentials_from, register_app, submit
from tests.support.services import require_redis

INITIAL_TOKEN = "initial-access-token-for-tests-0123456789"  # noqa: S105 - test credential
BASIC_CHALLENGE = 'Basic realm="oauth", charset="UTF-8"'
PROPAGATION_DEADLINE = 5.0  # many sync intervals, even on a loaded machine


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    return settings.model_copy(
        update={
            "client_cache_ttl": 3600,
            "revocation_sync_interval": 0.2,
            "registration_initial_access_token": INITIAL_TOKEN,
        }
    )


@pytest.fixture
async def other_app(
    settings: AuthSettings, db: Database, signing_key: SigningKey, clock: TestClock
) -> AsyncIterator[FastAPI]:
    """A second instance of the same deployment: same settings and database, its own memory."""
    app = create_app(settings, clock=clock)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def other_client(other_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=other_app)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as client:
        yield client


async def token_for(auth: httpx.AsyncClient, client_id: str, secret: str | None) -> httpx.Response:
    data = {"grant_type": "client_credentials", "scope": "read:notes"}
    return await auth.post("/oauth/token", data=data, auth=(client_id, secret or ""))


def assert_token_issued(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "read:notes"
    assert response.headers["cache-control"] == "no-store"


def assert_client_refused(response: httpx.Response) -> None:
    assert_oauth_error(
        response, "invalid_client", status=401, description="client authentication failed"
    )
    assert response.headers["www-authenticate"] == BASIC_CHALLENGE


async def eventually(send: Callable[[], Awaitable[httpx.Response]], status: int) -> httpx.Response:
    """The first response with `status` within the deadline, or the last one."""
    deadline = asyncio.get_running_loop().time() + PROPAGATION_DEADLINE
    while True:
        response = await send()
        if response.status_code == status or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.05)


async def machine(db: Database) -> TestClient:
    return await make_client(
        db, grant_types=["client_credentials"], redirect_uris=[], scope="read:notes"
    )


async def change_notices(db: Database, client_id: str) -> int:
    return await db.count(
        RevocationEvent,
        RevocationEvent.kind == CLIENT_CHANGED,
        RevocationEvent.value == client_id,
    )


async def test_secret_rotated_by_another_process_is_refused_by_every_instance(
    db: Database,
    clock: TestClock,
    auth_client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
) -> None:
    client = await machine(db)
    for instance in (auth_client, other_client):  # both now hold the client in memory
        assert_token_issued(await token_for(instance, client.client_id, client.secret))

    # What `auth-service clients rotate-secret` does, in a process of its own without Redis.
    async def rotate(repos: Repositories) -> str:
        row = await repos.clients.get_by_client_id(client.client_id)
        assert row is not None
        return await rotate_client_secret(repos, row, now=clock())

    new_secret = await db.run(rotate)

    assert await change_notices(db, client.client_id) == 1
    for instance in (auth_client, other_client):
        assert_client_refused(await refused_soon(instance, client.client_id, client.secret))
        assert_token_issued(await token_for(instance, client.client_id, new_secret))


async def refused_soon(
    auth: httpx.AsyncClient, client_id: str, secret: str | None
) -> httpx.Response:
    return await eventually(lambda: token_for(auth, client_id, secret), 401)


async def portal_machine(db: Database, auth: httpx.AsyncClient) -> tuple[str, str | None]:
    """A portal app of a signed-in developer, which an operator allowed client_credentials."""
    await sign_in(auth, await make_user(db, username="dev"))
    client_id, secret = credentials_from(await register_app(auth))

    async def allow(repos: Repositories) -> None:
        row = await repos.clients.get_by_client_id(client_id)
        assert row is not None
        changes = ClientChanges(grant_types=[*row.grant_types, "client_credentials"])
        await update_client(repos, row, changes, now=row.updated_at)

    await db.run(allow)
    return client_id, secret


async def test_portal_rotation_is_honoured_at_once_there_and_soon_on_the_other_instance(
    db: Database, auth_client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    client_id, secret = await portal_machine(db, auth_client)
    for instance in (auth_client, other_client):
        assert_token_issued(await token_for(instance, client_id, secret))
    path = f"/developers/apps/{client_id}"

    _, new_secret = credentials_from(await submit(auth_client, path, f"{path}/rotate-secret", {}))

    assert_client_refused(await token_for(auth_client, client_id, secret))  # no wait here
    assert_client_refused(await refused_soon(other_client, client_id, secret))
    for instance in (auth_client, other_client):
        assert_token_issued(await token_for(instance, client_id, new_secret))


async def dynamic_machine(auth: httpx.AsyncClient) -> dict[str, Any]:
    metadata = {
        "client_name": "Machine",
        "grant_types": ["client_credentials"],
        "scope": "read:notes",
    }
    response = await auth.post("/oauth/register", json=metadata, headers=bearer(INITIAL_TOKEN))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_registration_update_on_one_instance_is_honoured_by_the_other(
    db: Database, auth_client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    body = await dynamic_machine(auth_client)
    assert_token_issued(await token_for(other_client, body["client_id"], body["client_secret"]))
    replacement = {
        "client_id": body["client_id"],
        "client_name": "Machine",
        "grant_types": ["client_credentials"],
        "scope": "write:notes",
    }

    updated = await auth_client.put(
        f"/oauth/register/{body['client_id']}",
        json=replacement,
        headers=bearer(body["registration_access_token"]),
    )

    assert updated.status_code == 200, updated.text
    assert await change_notices(db, body["client_id"]) == 1
    response = await eventually(
        lambda: token_for(other_client, body["client_id"], body["client_secret"]), 400
    )
    assert_oauth_error(
        response, "invalid_scope", description="scope not allowed for this client: read:notes"
    )


async def test_registration_delete_on_one_instance_is_honoured_by_the_other(
    db: Database, auth_client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    body = await dynamic_machine(auth_client)
    assert_token_issued(await token_for(other_client, body["client_id"], body["client_secret"]))

    deleted = await auth_client.delete(
        f"/oauth/register/{body['client_id']}", headers=bearer(body["registration_access_token"])
    )

    assert deleted.status_code == 204, deleted.text
    assert await db.get(Client, body["client_id"]) is None
    # The deletion's own `client` revocation is the notice: no second row for it.
    assert await db.count(RevocationEvent, RevocationEvent.value == body["client_id"]) == 1
    assert_client_refused(
        await refused_soon(other_client, body["client_id"], body["client_secret"])
    )


async def test_unchanged_client_stays_cached_on_the_other_instance(
    db: Database, clock: TestClock, auth_client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    """The notice names one client: the others keep being served from memory."""
    client, bystander = await machine(db), await machine(db)
    assert_token_issued(await token_for(other_client, bystander.client_id, bystander.secret))

    async def rotate(repos: Repositories) -> str:
        row = await repos.clients.get_by_client_id(client.client_id)
        assert row is not None
        return await rotate_client_secret(repos, row, now=clock())

    await db.run(rotate)
    assert_client_refused(await refused_soon(other_client, client.client_id, client.secret))

    async def narrow_scope_without_notice(repos: Repositories) -> None:
        row = await repos.clients.get_by_client_id(bystander.client_id)
        assert row is not None
        row.scope = "write:notes"  # no notice: only a cached copy can still allow read:notes

    await db.run(narrow_scope_without_notice)
    assert_token_issued(await token_for(other_client, bystander.client_id, bystander.secret))


class TestWithRedis:
    """Polls far apart (60 s): only the Redis announcement can tell the other instance in time."""

    @pytest.fixture
    def settings(self, settings: AuthSettings) -> AuthSettings:
        return settings.model_copy(
            update={"redis_url": require_redis(), "revocation_sync_interval": 60}
        )

    @staticmethod
    async def listening(*apps: FastAPI) -> None:
        """Wait until each mirror has subscribed (it polls once more right after subscribing)."""
        for _ in range(100):
            if all(app.state.introspection.mirror.polls >= 2 for app in apps):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the revocation mirrors did not subscribe to Redis")

    async def test_portal_rotation_is_announced_to_the_other_instance(
        self,
        db: Database,
        auth_app: FastAPI,
        other_app: FastAPI,
        auth_client: httpx.AsyncClient,
        other_client: httpx.AsyncClient,
    ) -> None:
        await self.listening(auth_app, other_app)
        client_id, secret = await portal_machine(db, auth_client)
        assert_token_issued(await token_for(other_client, client_id, secret))
        path = f"/developers/apps/{client_id}"

        _, new_secret = credentials_from(
            await submit(auth_client, path, f"{path}/rotate-secret", {})
        )

        assert_client_refused(await refused_soon(other_client, client_id, secret))
        assert_token_issued(await token_for(other_client, client_id, new_secret))


async def test_change_notice_revokes_none_of_the_clients_tokens(
    db: Database,
    clock: TestClock,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    introspector: TestClient,
) -> None:
    client = await machine(db)
    token = (await token_for(auth_client, client.client_id, client.secret)).json()["access_token"]

    async def rotate(repos: Repositories) -> str:
        row = await repos.clients.get_by_client_id(client.client_id)
        assert row is not None
        return await rotate_client_secret(repos, row, now=clock())

    await db.run(rotate)
    mirror = auth_app.state.introspection.mirror
    assert await mirror.poll()
    # From memory, then from the database as when the copy is not current.
    for _ in ("mirror", "database"):
        response = await introspect(auth_client, introspector, token)
        assert response.status_code == 200, response.text
        assert response.json()["active"] is True
        await mirror.aclose()
        mirror.last_success = None


async def test_mirror_acts_on_each_client_notice_once_though_polls_reread_it(
    db: Database, clock: TestClock
) -> None:
    forgotten: list[str] = []
    mirror = RevocationMirror(
        RevocationList(),
        db.sessionmaker,
        clock,
        poll_interval=60,
        on_client_change=forgotten.append,
    )
    now = clock()
    for kind, value in ((CLIENT_CHANGED, "c-1"), ("client", "c-2"), ("grant", "g-1")):
        await db.add(
            RevocationEvent(
                kind=kind, value=value, created_at=now, expires_at=now + timedelta(hours=1)
            )
        )

    assert await mirror.poll()
    assert await mirror.poll()  # the overlap re-reads the same events
    mirror._take(announcement([(CLIENT_CHANGED, "c-3", now.timestamp() + 60)]))

    assert forgotten == ["c-1", "c-2", "c-3"]
    assert not mirror.revocations.is_revoked_value(CLIENT_CHANGED, "c-1")
    assert mirror.revocations.is_revoked_value("client", "c-2")
