"""The resource API's profile cache: fresh reads skip the database, an outage serves stale ones."""

from __future__ import annotations

import pytest

from resource_service.profiles import ProfileCache
from shared.database import make_engine, make_sessionmaker
from shared.failures import DATABASE_OUTAGE_ERRORS
from tests.factories import TestUser
from tests.support.db import Database


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def dead_sessionmaker():  # type: ignore[no-untyped-def]
    engine = make_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none", connect_timeout=1)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_profile_cache_serves_a_cached_profile_through_a_database_outage(
    db: Database,
    user: TestUser,
    dead_sessionmaker,  # type: ignore[no-untyped-def]
) -> None:
    clock = Clock()
    cache = ProfileCache(db.sessionmaker, ttl=30, stale_for=600, clock=clock)
    first = await cache.get(user.id)
    assert first is not None and first.username == user.username

    cache._sessionmaker = dead_sessionmaker  # the database goes away
    clock.now += 31  # past the freshness window: a read is attempted and fails
    assert await cache.get(user.id) == first
    clock.now += 600  # past the stale limit: no more pretending
    with pytest.raises(DATABASE_OUTAGE_ERRORS):
        await cache.get(user.id)


async def test_profile_cache_miss_during_an_outage_raises(dead_sessionmaker) -> None:  # type: ignore[no-untyped-def]
    cache = ProfileCache(dead_sessionmaker, clock=Clock())
    with pytest.raises(DATABASE_OUTAGE_ERRORS):
        await cache.get("someone")


async def test_profile_cache_remembers_that_a_user_does_not_exist_and_refreshes_after_ttl(
    db: Database, user: TestUser
) -> None:
    clock = Clock()
    cache = ProfileCache(db.sessionmaker, ttl=30, clock=clock)
    assert await cache.get("no-such-user") is None
    renamed = await db.run(
        lambda repos: repos.users.update_profile(
            user.user, name="New Name", email=user.user.email, now=user.user.updated_at
        )
    )
    assert renamed is True
    assert (await cache.get(user.id)).name == "New Name"  # type: ignore[union-attr]


async def test_profile_cache_keeps_at_most_max_entries(db: Database, user: TestUser) -> None:
    cache = ProfileCache(db.sessionmaker, max_entries=2, clock=Clock())
    for user_id in ("a", "b", "c"):
        await cache.get(user_id)
    assert list(cache._entries) == ["b", "c"]
