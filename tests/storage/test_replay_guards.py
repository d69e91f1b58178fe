"""Single-use jtis (RFC 7523 section 3, RFC 9449 section 11.1): memory, Redis and the database."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from auth_service.repositories import Repositories
from auth_service.security.jti_batch import DatabaseJtiBatch
from auth_service.security.replay import first_use
from shared.database import make_engine
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


async def test_memory_guard_when_full_drops_expired_keys_then_the_closest_to_expiry() -> None:
    now = [100.0]
    guard = MemoryReplayGuard(max_keys=3, clock=lambda: now[0])
    for key, ttl in (("a", 30), ("b", 10), ("c", 20)):
        assert await guard.first_use(key, ttl) is True
    # Full of live keys: the one closest to expiry ("b") makes room, the others stay spent.
    assert await guard.first_use("d", 40) is True
    assert [await guard.first_use(k, 10) for k in ("a", "c", "d")] == [False, False, False]


async def test_memory_guard_drops_expired_keys_before_live_ones_out_of_arrival_order() -> None:
    # A DPoP proof's lifetime depends on its iat, so keys expire out of arrival order.
    now = [0.0]
    guard = MemoryReplayGuard(max_keys=3, clock=lambda: now[0])
    for key, ttl in (("a", 100), ("b", 1), ("c", 1)):
        assert await guard.first_use(key, ttl) is True
    now[0] = 5.0

    assert await guard.first_use("d", 10) is True
    assert await guard.first_use("a", 100) is False  # live: still spent
    assert await guard.first_use("b", 1) is True  # expired: usable again
    assert len(guard._expiry) == 3


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


# --- the database in batches (auth_service.security.jti_batch) -------------------------------------


def _checkouts(db: Database) -> list[int]:
    """A list that grows by one each time the engine's pool hands out a connection: a batch
    takes one for its one transaction (on SQLite its one statement, which commits by itself)."""
    seen: list[int] = []
    event.listen(db.engine.sync_engine.pool, "checkout", lambda *_args: seen.append(1))
    return seen


async def test_batched_guard_records_concurrent_jtis_in_fewer_transactions(db: Database) -> None:
    guard = DatabaseJtiBatch(db.engine, lambda: NOW)
    checkouts = _checkouts(db)

    outcomes = await asyncio.gather(*(guard.first_use(f"key-{n}", 60) for n in range(40)))

    assert outcomes == [True] * 40
    # All 40 were waiting before the writer's first turn: one transaction for them all.
    assert len(checkouts) == 1
    assert await db.count(UsedJti) == 40
    (row,) = await db.all(UsedJti, col(UsedJti.key) == "key-7")
    assert row.expires_at == NOW + timedelta(seconds=60)


async def test_batched_guard_one_winner_for_a_key_twice_in_a_batch_or_already_live(
    db: Database,
) -> None:
    guard = DatabaseJtiBatch(db.engine, lambda: NOW)
    assert await guard.first_use("live", 60) is True

    outcomes = await asyncio.gather(
        guard.first_use("twice", 60), guard.first_use("twice", 60), guard.first_use("live", 60)
    )

    assert outcomes == [True, False, False]
    assert await db.count(UsedJti) == 2


async def test_batched_guard_takes_over_an_expired_jti(db: Database) -> None:
    now = [NOW]
    guard = DatabaseJtiBatch(db.engine, lambda: now[0])
    assert await guard.first_use("k", 30) is True
    now[0] = NOW + timedelta(seconds=31)

    assert await guard.first_use("k", 30) is True
    assert await guard.first_use("k", 30) is False
    (row,) = await db.all(UsedJti)
    assert row.expires_at == NOW + timedelta(seconds=61)


async def test_batched_guard_and_the_repository_read_each_others_expiry(db: Database) -> None:
    # On SQLite the batch writes its rows without the ORM: the stored times must compare the same.
    now = [NOW]
    guard = DatabaseJtiBatch(db.engine, lambda: now[0])
    await db.run(lambda repos: repos.used_jtis.first_use("orm", NOW + timedelta(seconds=10), NOW))

    assert await guard.first_use("orm", 30) is False
    now[0] = NOW + timedelta(seconds=10)  # the very moment it expires (<= now), whole seconds
    assert await guard.first_use("orm", 30) is True
    assert await guard.first_use("batch", 5) is True
    later = NOW + timedelta(seconds=14, microseconds=999_999)
    assert await db.run(lambda r: r.used_jtis.first_use("batch", later, later)) is False
    assert await db.run(lambda r: r.used_jtis.delete_expired(NOW + timedelta(seconds=20))) == 1
    (row,) = await db.all(UsedJti)
    assert (row.key, row.expires_at) == ("orm", NOW + timedelta(seconds=40))


async def test_batched_guard_reports_a_database_failure_as_sqlalchemy_does(tmp_path: Path) -> None:
    # No used_jti table here: the driver's error must reach the request as a DBAPIError, which
    # the error handler knows (an OperationalError such as "database is locked" is a 503).
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    guard = DatabaseJtiBatch(engine, lambda: NOW)
    try:
        with pytest.raises(OperationalError):
            await guard.first_use("k", 30)
    finally:
        await engine.dispose()


async def test_batched_guard_leaves_a_request_in_a_transaction_to_that_transaction(
    db: Database,
) -> None:
    guard = DatabaseJtiBatch(db.engine, lambda: NOW)
    kwargs = {"purpose": "dpop", "issuer": "c", "jti": "j3", "now": NOW}
    async with db.sessionmaker() as session:
        repos = Repositories.over(session)
        await session.exec(select(UsedJti))  # the request has begun its transaction
        assert await first_use(repos, guard, **kwargs, expires_at=NOW + timedelta(seconds=60))
        # Waiting for a batch here would, on SQLite, wait for this very connection; and the
        # rollback of a failed request leaves the jti unused.
        await session.rollback()

    assert await db.count(UsedJti) == 0
    async with db.sessionmaker() as session:
        won = await first_use(
            Repositories.over(session), guard, **kwargs, expires_at=NOW + timedelta(seconds=60)
        )
    assert won is True
    assert await db.count(UsedJti) == 1  # committed by the batch, not by that session
