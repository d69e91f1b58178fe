"""Single-use jtis (RFC 7523 section 3, RFC 9449 section 11.1): memory, Redis and the database."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

from auth_service.repositories import Repositories
from auth_service.security.replay import first_use
from shared.models import UsedJti
from shared.replay import MemoryReplayGuard, RedisReplayGuard, replay_key
from tests.support.db import Database
from tests.support.services import require_redis

NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)


def test_replay_key_separates_purpose_issuer_and_jti() -> None:
    keys = {
        replay_key("dpop", "a", "1"),
        replay_key("client-assertion", "a", "1"),
        replay_key("dpop", "b", "1"),
        replay_key("dpop", "a", "2"),
        replay_key("dpop", "a\x001", ""),
    }
    assert len(keys) == 5
    assert all(len(key) == 64 for key in keys)


async def test_memory_guard_refuses_a_repeat_until_it_expires() -> None:
    now = [100.0]
    guard = MemoryReplayGuard(max_keys=3, clock=lambda: now[0])

    assert await guard.first_use("k", 10) is True
    assert await guard.first_use("k", 10) is False
    now[0] += 10.5
    assert await guard.first_use("k", 10) is True


async def test_redis_guard_refuses_a_repeat_from_another_connection() -> None:
    url = require_redis()
    one, two = RedisReplayGuard(url), RedisReplayGuard(url)
    key = secrets.token_hex(16)
    try:
        assert await one.first_use(key, 5) is True
        assert await two.first_use(key, 5) is False
    finally:
        await one.aclose()
        await two.aclose()


async def test_database_guard_one_winner_among_concurrent_uses(db: Database) -> None:
    async def attempt() -> bool:
        async with db.sessionmaker() as session:
            repos = Repositories.over(session)
            won = await first_use(
                repos, None, purpose="dpop", issuer="c", jti="j1",
                expires_at=NOW + timedelta(seconds=60), now=NOW,
            )  # fmt: skip
            await session.commit()
            return won

    results = []
    for _ in range(5):  # SQLite serialises writers; PostgreSQL runs these together
        results.append(asyncio.create_task(attempt()))
    outcomes = await asyncio.gather(*results)

    assert sorted(outcomes) == [False, False, False, False, True]
    assert await db.count(UsedJti) == 1


async def test_database_guard_accepts_a_jti_again_after_it_expired(db: Database) -> None:
    async with db.sessionmaker() as session:
        repos = Repositories.over(session)
        kwargs = {"purpose": "client-assertion", "issuer": "c", "jti": "j2"}
        assert await first_use(
            repos, None, **kwargs, expires_at=NOW + timedelta(seconds=30), now=NOW
        )
        later = NOW + timedelta(seconds=31)
        assert await first_use(
            repos, None, **kwargs, expires_at=later + timedelta(seconds=30), now=later
        )
        assert not await first_use(
            repos, None, **kwargs, expires_at=later + timedelta(seconds=30), now=later
        )
        await session.commit()
    (row,) = await db.all(UsedJti)
    assert row.expires_at == NOW + timedelta(seconds=61)
