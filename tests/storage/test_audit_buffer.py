"""Routine audit events are batched off the request path and survive a database outage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from auth_service.audit import AuditBuffer
from shared.database import make_engine, make_sessionmaker
from shared.models import AuditEvent
from tests.support.db import Database


def _event(n: int) -> dict[str, Any]:
    return {
        "created_at": datetime.now(UTC),
        "event": "token_issued",
        "user_id": None,
        "client_id": None,
        "request_id": None,
        "ip": None,
        "details": {"n": n},
    }


async def test_audit_buffer_writes_pending_events_in_one_batch(db: Database) -> None:
    buffer = AuditBuffer(db.sessionmaker)
    for n in range(3):
        buffer.add(_event(n))

    assert await buffer.flush() == 3
    assert await buffer.flush() == 0
    assert sorted(e.details["n"] for e in await db.all(AuditEvent)) == [0, 1, 2]


async def test_audit_buffer_concurrent_flushes_write_each_event_once(db: Database) -> None:
    # A test (or shutdown) flushing while the background task flushes: the same batch must not
    # be inserted twice, nor the second flush fail on the queue the first one emptied.
    buffer = AuditBuffer(db.sessionmaker)
    for n in range(3):
        buffer.add(_event(n))

    written = await asyncio.gather(buffer.flush(), buffer.flush())

    assert sorted(written) == [0, 3]
    assert sorted(e.details["n"] for e in await db.all(AuditEvent)) == [0, 1, 2]


async def test_audit_buffer_keeps_events_while_the_database_is_down(db: Database) -> None:
    dead = make_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none", connect_timeout=1)
    buffer = AuditBuffer(make_sessionmaker(dead))
    buffer.add(_event(1))
    try:
        assert await buffer.flush() == 0
    finally:
        await dead.dispose()
    buffer._sessionmaker = db.sessionmaker  # the database is back
    assert await buffer.flush() == 1
    assert await db.count(AuditEvent) == 1


async def test_audit_buffer_stop_flushes_what_is_left(db: Database) -> None:
    buffer = AuditBuffer(db.sessionmaker, interval=3600)
    buffer.start()
    buffer.add(_event(7))
    await buffer.stop()
    assert await db.count(AuditEvent) == 1
