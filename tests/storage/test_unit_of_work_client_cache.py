"""The unit of work makes this instance's client cache forget the clients it changed, once the
change is committed, and never for a change that was rolled back."""

from __future__ import annotations

from datetime import UTC, datetime

from auth_service.audit import AuditBuffer
from auth_service.clients.cache import ClientCache
from auth_service.clients.registry import rotate_client_secret
from auth_service.resource_servers.cache import ResourceServerCache
from auth_service.unit_of_work import UnitOfWork
from shared.models import Client
from tests.factories import TestClient
from tests.support.db import Database

NOW = datetime(2030, 1, 1, tzinfo=UTC)


class Loads:
    """A cache loader reading the committed row, counting its reads."""

    def __init__(self, db: Database) -> None:
        self.db, self.count = db, 0

    async def __call__(self, client_id: str) -> Client | None:
        self.count += 1
        return await self.db.get(Client, client_id)


async def rotate_in_unit_of_work(
    db: Database, cache: ClientCache, client_id: str, *, commit: bool
) -> None:
    uow = UnitOfWork(db.sessionmaker, AuditBuffer(db.sessionmaker), cache, ResourceServerCache())
    try:
        client = await uow.repos.clients.get_by_client_id(client_id)
        assert client is not None
        await rotate_client_secret(uow.repos, client, now=NOW)
        if commit:
            await uow.commit()
        else:
            await uow.rollback()
    finally:
        await uow.close()


async def test_unit_of_work_commit_makes_the_cache_forget_the_changed_client(
    db: Database, confidential_client: TestClient
) -> None:
    cache, load = ClientCache(ttl=3600), Loads(db)
    before = await cache.get(confidential_client.client_id, load)

    await rotate_in_unit_of_work(db, cache, confidential_client.client_id, commit=True)

    after = await cache.get(confidential_client.client_id, load)
    assert load.count == 2
    assert before is not None and after is not None
    assert after.client_secret_hash != before.client_secret_hash


async def test_unit_of_work_rollback_leaves_the_cache_as_it_was(
    db: Database, confidential_client: TestClient
) -> None:
    cache, load = ClientCache(ttl=3600), Loads(db)
    before = await cache.get(confidential_client.client_id, load)

    await rotate_in_unit_of_work(db, cache, confidential_client.client_id, commit=False)

    assert await cache.get(confidential_client.client_id, load) is before
    assert load.count == 1
    row = await db.get(Client, confidential_client.client_id)
    assert row is not None and before is not None
    assert row.client_secret_hash == before.client_secret_hash


async def test_unit_of_work_without_client_writes_leaves_the_cache_as_it_was(
    db: Database, confidential_client: TestClient
) -> None:
    cache, load = ClientCache(ttl=3600), Loads(db)
    before = await cache.get(confidential_client.client_id, load)
    uow = UnitOfWork(db.sessionmaker, AuditBuffer(db.sessionmaker), cache, ResourceServerCache())
    try:
        assert await uow.repos.clients.get_by_client_id(confidential_client.client_id) is not None
        await uow.commit()
    finally:
        await uow.close()

    assert await cache.get(confidential_client.client_id, load) is before
    assert load.count == 1
