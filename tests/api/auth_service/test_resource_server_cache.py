"""The token endpoint resolves its audience (RFC 8707) from an in-process cache: no registry read
after the first, registered or not, and every change is honoured, here at once after its commit
(never on a rollback), elsewhere once the revocation mirror reads the change notice.

Entries are kept an hour and the mirror polls only when told, so only the invalidation under
test can make the instance forget what it holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from auth_service.config import AuthSettings
from auth_service.repositories import Repositories
from auth_service.resource_servers.registry import (
    ResourceServerSpec,
    delete_resource_server,
    register_resource_server,
    update_resource_server,
)
from auth_service.revocations.mirror import RevocationMirror
from auth_service.unit_of_work import UnitOfWork
from shared.claims import AccessTokenClaims
from shared.models import ResourceServer, RevocationEvent
from shared.revocations import RESOURCE_SERVER_CHANGED, RevocationList
from tests.conftest import AUDIENCE
from tests.factories import TestClient, make_client, make_resource_server
from tests.support.assertions import assert_oauth_error
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.dpop import unverified_payload

NOTES = "https://notes.example/api"
NOT_REGISTERED = "the resource is not a registered resource server"


@pytest.fixture
def settings(settings: AuthSettings) -> AuthSettings:
    return settings.model_copy(update={"client_cache_ttl": 3600, "revocation_sync_interval": 60})


class RegistryReads:
    """Statements the app's engine sends that touch the resource_server table."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "resource_server" in statement:
            self.count += 1


@pytest.fixture
def registry_reads(auth_app: FastAPI) -> Iterator[RegistryReads]:
    reads, engine = RegistryReads(), auth_app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", reads)
    yield reads
    event.remove(engine, "before_cursor_execute", reads)


@pytest.fixture
async def machine(db: Database) -> TestClient:
    return await make_client(
        db, grant_types=["client_credentials"], redirect_uris=[], scope="read:notes write:notes"
    )


async def token(
    auth: httpx.AsyncClient, client: TestClient, resource: str | None = None
) -> httpx.Response:
    data = {"grant_type": "client_credentials", "scope": "read:notes write:notes"}
    if resource is not None:
        data["resource"] = resource
    return await auth.post("/oauth/token", data=data, auth=client.basic_auth())


def issued_scopes(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return set(response.json()["scope"].split())


async def in_app_unit(
    app: FastAPI, work: Callable[[Repositories], Awaitable[None]], *, commit: bool
) -> None:
    """`work` in a unit of work of this app instance, as a portal request runs it."""
    state = app.state
    uow = UnitOfWork(
        state.sessionmaker, state.audit_buffer, state.client_cache, state.resource_server_cache
    )
    try:
        await work(uow.repos)
        await (uow.commit() if commit else uow.rollback())
    finally:
        await uow.close()


def narrowing(uri: str, scopes: tuple[str, ...]) -> Callable[[Repositories], Awaitable[None]]:
    async def work(repos: Repositories) -> None:
        server = await repos.resource_servers.get_by_uri(uri)
        assert server is not None
        await update_resource_server(repos, server, scopes=scopes, now=datetime.now(UTC))

    return work


def deleting(uri: str) -> Callable[[Repositories], Awaitable[None]]:
    async def work(repos: Repositories) -> None:
        server = await repos.resource_servers.get_by_uri(uri)
        assert server is not None
        await delete_resource_server(repos, server, now=datetime.now(UTC))

    return work


@pytest.mark.parametrize("registered", [False, True], ids=["unregistered", "registered"])
async def test_token_default_audience_reads_the_registry_only_for_the_first_request(
    db: Database,
    auth_client: httpx.AsyncClient,
    machine: TestClient,
    registry_reads: RegistryReads,
    registered: bool,
) -> None:
    if registered:
        await make_resource_server(db, AUDIENCE, scopes=("read:notes",))
    expected = {"read:notes"} if registered else {"read:notes", "write:notes"}

    assert issued_scopes(await token(auth_client, machine)) == expected
    assert registry_reads.count == 1
    for _ in range(5):
        assert issued_scopes(await token(auth_client, machine)) == expected

    assert registry_reads.count == 1


async def test_token_named_resource_and_unknown_one_are_each_read_once(
    db: Database,
    auth_client: httpx.AsyncClient,
    machine: TestClient,
    registry_reads: RegistryReads,
) -> None:
    await make_resource_server(db, NOTES, scopes=("read:notes",))

    for _ in range(3):
        assert issued_scopes(await token(auth_client, machine, NOTES)) == {"read:notes"}
        unknown = await token(auth_client, machine, "https://unknown.example")
        assert_oauth_error(unknown, "invalid_target", description=NOT_REGISTERED)

    assert registry_reads.count == 2


async def test_resource_server_updated_then_deleted_here_is_honoured_by_the_next_request(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, machine: TestClient
) -> None:
    await make_resource_server(db, NOTES, scopes=("read:notes", "write:notes"))
    assert issued_scopes(await token(auth_client, machine, NOTES)) == {"read:notes", "write:notes"}

    await in_app_unit(auth_app, narrowing(NOTES, ("read:notes",)), commit=True)
    assert issued_scopes(await token(auth_client, machine, NOTES)) == {"read:notes"}

    await in_app_unit(auth_app, deleting(NOTES), commit=True)
    response = await token(auth_client, machine, NOTES)
    assert_oauth_error(response, "invalid_target", description=NOT_REGISTERED)
    assert await db.count(ResourceServer) == 0


async def test_resource_server_registered_here_is_honoured_though_it_was_cached_as_unknown(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, machine: TestClient
) -> None:
    assert issued_scopes(await token(auth_client, machine)) == {"read:notes", "write:notes"}

    async def register(repos: Repositories) -> None:
        spec = ResourceServerSpec(uri=AUDIENCE, name="Notes", scopes=("read:notes",))
        await register_resource_server(repos, spec, now=datetime.now(UTC))

    await in_app_unit(auth_app, register, commit=True)

    assert issued_scopes(await token(auth_client, machine)) == {"read:notes"}


async def test_resource_server_change_rolled_back_leaves_the_cache_as_it_was(
    db: Database,
    auth_app: FastAPI,
    auth_client: httpx.AsyncClient,
    machine: TestClient,
    registry_reads: RegistryReads,
) -> None:
    await make_resource_server(db, NOTES, scopes=("read:notes", "write:notes"))
    assert issued_scopes(await token(auth_client, machine, NOTES)) == {"read:notes", "write:notes"}

    await in_app_unit(auth_app, deleting(NOTES), commit=False)
    reads = registry_reads.count

    assert await db.count(ResourceServer) == 1
    # The registration's notice only: the deletion's went with the rollback.
    assert await db.count(RevocationEvent, RevocationEvent.kind == RESOURCE_SERVER_CHANGED) == 1
    assert issued_scopes(await token(auth_client, machine, NOTES)) == {"read:notes", "write:notes"}
    assert registry_reads.count == reads


async def test_resource_server_changed_by_another_process_is_honoured_after_the_next_poll(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, machine: TestClient
) -> None:
    """The CLI's path: the registry in a transaction of its own, no unit of work of this app."""
    await make_resource_server(db, NOTES, scopes=("read:notes", "write:notes"))
    assert issued_scopes(await token(auth_client, machine, NOTES)) == {"read:notes", "write:notes"}
    assert issued_scopes(await token(auth_client, machine)) == {"read:notes", "write:notes"}

    await db.run(narrowing(NOTES, ("read:notes",)))
    spec = ResourceServerSpec(uri=AUDIENCE, name="Notes", scopes=("write:notes",))
    await db.run(lambda repos: register_resource_server(repos, spec, now=datetime.now(UTC)))
    # Not yet told: the instance still answers from memory.
    assert issued_scopes(await token(auth_client, machine, NOTES)) == {"read:notes", "write:notes"}

    assert await auth_app.state.introspection.mirror.poll() is True

    assert issued_scopes(await token(auth_client, machine, NOTES)) == {"read:notes"}
    assert issued_scopes(await token(auth_client, machine)) == {"write:notes"}
    await db.run(deleting(NOTES))
    assert await auth_app.state.introspection.mirror.poll() is True
    response = await token(auth_client, machine, NOTES)
    assert_oauth_error(response, "invalid_target", description=NOT_REGISTERED)


async def test_resource_server_notice_names_the_row_id_and_revokes_nothing(
    db: Database, auth_app: FastAPI, auth_client: httpx.AsyncClient, machine: TestClient
) -> None:
    """The public feed lists a random id, not the registered URI; a follower's deny list (the
    resource service's, this instance's) takes the notice for no revocation."""
    server = await make_resource_server(db, AUDIENCE, scopes=("read:notes",))
    issued = await token(auth_client, machine)
    assert issued_scopes(issued) == {"read:notes"}

    feed = await auth_client.get("/oauth/revocations", params={"since": "0"})

    assert feed.status_code == 200, feed.text
    events = feed.json()["events"]
    assert [(e["type"], e["value"]) for e in events] == [(RESOURCE_SERVER_CHANGED, server.id)]
    assert AUDIENCE not in feed.text
    follower = RevocationList()
    for e in events:
        follower.add(e["type"], e["value"], e["expires_at"])
    claims = AccessTokenClaims.model_validate(unverified_payload(issued.json()["access_token"]))
    assert len(follower) == 0 and not follower.is_revoked(claims)
    mirror = auth_app.state.introspection.mirror
    assert await mirror.poll() is True
    assert len(mirror.revocations) == 0


async def test_mirror_acts_on_each_resource_server_notice_once_though_polls_reread_it(
    db: Database, clock: TestClock
) -> None:
    cleared: list[None] = []
    mirror = RevocationMirror(
        RevocationList(),
        db.sessionmaker,
        clock,
        poll_interval=60,
        on_client_change=lambda client_id: pytest.fail("not a client notice"),
        on_resource_server_change=lambda: cleared.append(None),
    )
    await make_resource_server(db, NOTES)
    await db.run(narrowing(NOTES, ("write:notes",)))

    assert await mirror.poll()
    assert await mirror.poll()  # the overlap re-reads the same events

    assert len(cleared) == 2
    assert len(mirror.revocations) == 0


async def test_unit_holding_a_transaction_reads_itself_instead_of_waiting_on_another_load(
    auth_app: FastAPI, db: Database
) -> None:
    """A request inside a transaction (on SQLite it holds the one connection) must not wait for
    a read another request started: that read may be waiting for this very connection, and the
    two would wait out the pool timeout together (seen as 5 s stalls under load)."""
    await make_resource_server(db, NOTES, name="Notes")
    state = auth_app.state

    def unit() -> UnitOfWork:
        return UnitOfWork(
            state.sessionmaker, state.audit_buffer, state.client_cache, state.resource_server_cache
        )

    holder, loader = unit(), unit()
    await holder.repos.clients.get_by_client_id("anything")  # a transaction is now open
    try:
        started = asyncio.create_task(loader.resource_server(NOTES))
        await asyncio.sleep(0.05)  # its read is under way (on SQLite: waiting for a connection)
        async with asyncio.timeout(3):
            server = await holder.resource_server(NOTES)
        assert server is not None and server.uri == NOTES
    finally:
        await holder.commit()
        await holder.close()
    async with asyncio.timeout(3):
        assert (await started) is not None
    await loader.close()
