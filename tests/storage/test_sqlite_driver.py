"""The SQLite adapter that runs each statement in one trip to aiosqlite's thread
(shared.sqlite_driver): what SQLAlchemy reads back from a cursor is the same, and a statement
costs one trip. The whole storage and API suites run on it too; these pin the cursor contract."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.database import make_engine
from shared.sqlite_driver import OneTripCursor


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    # Its own SQLite file in every run, PostgreSQL runs included: the adapter is SQLite's.
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


def _count_trips(monkeypatch: pytest.MonkeyPatch) -> list[Callable[..., Any]]:
    trips: list[Callable[..., Any]] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Callable[..., Any], *a: Any, **k: Any) -> Any:
        trips.append(fn)
        return await original(self, fn, *a, **k)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return trips


async def test_rows_rowcount_and_lastrowid_come_back_as_from_sqlite3(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        assert inserted.rowcount == 1
        await connection.execute(
            text("INSERT INTO t (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
        )
        updated = await connection.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
        assert updated.rowcount == 2
        returned = await connection.execute(
            text("DELETE FROM t WHERE name = 'c!' RETURNING id, name")
        )
        assert returned.all() == [(3, "c!")]
        rows = await connection.execute(text("SELECT id, name FROM t ORDER BY id"))
        assert list(rows.keys()) == ["id", "name"]
        assert rows.fetchone() == (1, "a")
        assert rows.fetchall() == [(2, "b!")]
        empty = await connection.execute(text("SELECT id FROM t WHERE id > 99"))
        assert empty.all() == []


async def test_a_statement_is_one_trip_to_the_driver_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as connection:
        trips = _count_trips(monkeypatch)
        await connection.execute(text("SELECT 1"))
        await connection.execute(text("INSERT INTO t (name) VALUES ('x') RETURNING id"))
        # BEGIN IMMEDIATE and the two statements: three trips, where cursor, execute, fetch
        # and close made up to four each.
        assert len(trips) == 3
        await connection.rollback()


async def test_driver_errors_reach_sqlalchemy_as_its_own(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (name) VALUES ('dup')"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (name) VALUES ('dup')"))
    with pytest.raises(OperationalError):
        async with engine.begin() as connection:
            await connection.execute(text("SELECT * FROM missing"))
    async with engine.connect() as connection:  # the connection is usable after both
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 1


async def test_streaming_keeps_sqlalchemys_server_side_cursor(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO t (name) VALUES (:name)"), [{"name": f"n{i}"} for i in range(5)]
        )
        result = await connection.stream(text("SELECT name FROM t ORDER BY id"))
        assert [row.name async for row in result] == [f"n{i}" for i in range(5)]
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)
