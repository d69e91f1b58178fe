"""A connection goes back to the pool with no transaction open (shared.database). On SQLite the
ROLLBACK at checkin is sent only when SQLite says a transaction is open; on PostgreSQL it is
SQLAlchemy's own reset. The same outcome either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, text

from shared.models import UsedJti
from tests.support.databases import TEST_DATABASE_URL, is_postgres
from tests.support.db import Database

LATER = datetime(2026, 12, 3, 12, 0, tzinfo=UTC) + timedelta(days=1)


@pytest.mark.skipif(
    TEST_DATABASE_URL is not None and is_postgres(TEST_DATABASE_URL),
    reason="the reset hook is SQLite's; asyncpg's adapter resets what SQLAlchemy began",
)
async def test_a_transaction_left_open_on_the_driver_is_rolled_back_at_checkin(
    db: Database,
) -> None:
    async with db.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        # Behind SQLAlchemy's back: it believes no transaction is open.
        await driver.execute("BEGIN")
        await driver.execute(
            "INSERT INTO used_jti (key, expires_at) VALUES ('left-open', '2030-01-01 00:00:00')"
        )
        assert driver.in_transaction

    assert await db.count(UsedJti) == 0
    async with db.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert not driver.in_transaction


async def test_committed_and_rolled_back_work_survive_checkin_as_they_ended(
    db: Database,
) -> None:
    rollbacks: list[int] = []
    event.listen(db.engine.sync_engine, "rollback", lambda _c: rollbacks.append(1))

    async with db.engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO used_jti (key, expires_at) VALUES (:k, :e)"),
            {"k": "kept", "e": LATER.replace(tzinfo=None)},
        )
    async with db.engine.connect() as connection:
        await connection.execute(
            text("INSERT INTO used_jti (key, expires_at) VALUES (:k, :e)"),
            {"k": "dropped", "e": LATER.replace(tzinfo=None)},
        )
        # Closed without commit: SQLAlchemy rolls its own transaction back.

    assert len(rollbacks) == 1
    assert [row.key for row in await db.all(UsedJti)] == ["kept"]
