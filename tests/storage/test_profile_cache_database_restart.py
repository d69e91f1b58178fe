"""The resource API's profile cache serves a cached profile while PostgreSQL restarts (it refuses
connections with SQLSTATE 57P03 then; found by the fault suite: these escaped as 500s)."""

from __future__ import annotations

from resource_service.profiles import ProfileCache
from shared.database import make_engine, make_sessionmaker
from tests.factories import TestUser
from tests.support.db import Database
from tests.support.fake_postgres import STARTING_UP, refusing_postgres


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_profile_cache_serves_a_cached_profile_while_postgres_is_starting_up(
    db: Database, user: TestUser
) -> None:
    clock = Clock()
    cache = ProfileCache(db.sessionmaker, ttl=30, stale_for=600, clock=clock)
    first = await cache.get(user.id)
    assert first is not None

    async with refusing_postgres(*STARTING_UP) as url:
        restarting = make_engine(url, connect_timeout=1)
        cache._sessionmaker = make_sessionmaker(restarting)
        clock.now += 31  # stale: a read is attempted, and refused
        try:
            assert await cache.get(user.id) == first
        finally:
            await restarting.dispose()
