"""Single-use jtis in the database, committed in batches (group commit).

Without Redis, every DPoP proof and client assertion is recorded in `used_jti` before the
request goes on, and the table's primary key is what makes a jti single use across every
instance sharing the database (RFC 7523 §3 item 7, RFC 9449 §11.1). A transaction of its own
per request cost more than the rest of a client_credentials request together; so the requests
that arrive while one batch is being written wait for the next one, and a batch is one
`INSERT ... ON CONFLICT DO UPDATE ... WHERE expired RETURNING key` in one transaction. Each
request still waits for the commit of its own jti, so nothing is answered on a jti that is not
recorded; a lone request is written at once, without waiting for company.

On SQLite the batch is that one statement on its own (SQLite makes a single statement a
transaction of its own) sent straight to the driver: through the ORM layer a batch took nine
trips to aiosqlite's thread (cursor, BEGIN, close, cursor, INSERT, fetch, close, COMMIT,
reset) and now takes one: the statement with its rows (the pool's reset sends no ROLLBACK when
SQLite has no transaction open, shared.database). The rows and the outcome are the same.

A request that already holds a transaction records its jti in that one instead (see
`security.replay.first_use`): on SQLite it holds the only connection, and waiting for a batch
would wait for itself.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from shared.models import UsedJti

Waiter = tuple[str, datetime, "asyncio.Future[bool]"]


class DatabaseJtiBatch:
    """`first_use(key, ttl)`, like the Redis guard, over the database in batches."""

    MAX_BATCH = 500  # three bound parameters a row, far below any driver's limit

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        statement = insert(UsedJti)
        # Built once and run with one parameter set a row (SQLAlchemy sends them as one
        # multi-row INSERT): a statement built per batch cost more than running it.
        self._statement = statement.on_conflict_do_update(
            index_elements=["key"],
            set_={"expires_at": statement.excluded.expires_at},
            where=col(UsedJti.expires_at) <= bindparam("now"),
        ).returning(col(UsedJti.key))
        self._sqlite = engine.dialect.name == "sqlite"
        # The conversion SQLAlchemy applies to this column on this database (the type and the
        # dialect's own DateTime format), so these rows compare with those the ORM writes.
        column_type = UsedJti.__table__.c.expires_at.type  # type: ignore[attr-defined]
        processor = column_type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
        self._to_column = processor or (lambda value: value)
        self._clock = clock
        self._pending: list[Waiter] = []
        self._writer: asyncio.Task[None] | None = None

    async def first_use(self, key: str, ttl: float) -> bool:
        """True when `key` was not live yet, and is now recorded for `ttl` seconds."""
        expires_at = self._clock() + timedelta(seconds=max(1, math.ceil(ttl)))
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((key, expires_at, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        # A cancelled request leaves its jti to be written anyway (spent, never reusable).
        return await future

    async def aclose(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self.MAX_BATCH]
            del self._pending[: self.MAX_BATCH]
            try:
                inserted = await self._write(batch)
            except Exception as exc:  # noqa: BLE001 - each waiting request answers it (503)
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for key, _, future in batch:
                # A key twice in one batch: its first request wins, the later one is a replay.
                won = key in inserted
                inserted.discard(key)
                if not future.done():
                    future.set_result(won)

    async def _write(self, batch: list[Waiter]) -> set[str]:
        rows: dict[str, datetime] = {}
        for key, expires_at, _ in batch:
            # One row per key: PostgreSQL refuses a statement whose conflict update would
            # touch the same row twice.
            rows.setdefault(key, expires_at)
        now = self._clock()
        if self._sqlite:
            return await self._write_sqlite(rows, now)
        async with self._engine.begin() as connection:
            result = await connection.execute(
                self._statement,
                [{"key": key, "expires_at": exp, "now": now} for key, exp in rows.items()],
            )
            return set(result.scalars().all())

    async def _write_sqlite(self, rows: dict[str, datetime], now: datetime) -> set[str]:
        to_column = self._to_column
        parameters: list[object] = []
        for key, expires_at in rows.items():
            parameters += (key, to_column(expires_at))
        parameters.append(to_column(now))
        statement = _sqlite_insert(len(rows))
        async with self._engine.connect() as connection:
            # No statement through SQLAlchemy, so no BEGIN: the INSERT commits by itself when
            # its last row is fetched, before any request here is answered.
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None  # noqa: S101 - a checked-out connection has its driver
            try:
                fetched = await driver.execute_fetchall(statement, parameters)
            except sqlite3.Error as error:
                # As SQLAlchemy would have raised it: a locked database is an outage (503).
                raise DBAPIError.instance(statement, None, error, sqlite3.Error) from error
            if driver.in_transaction:
                # Inside a transaction the rows are not committed, and the pool's reset will roll
                # them back: no request may be told its jti is recorded.
                raise RuntimeError("the jti batch ran inside an open transaction")
        return {row[0] for row in fetched}


def _sqlite_insert(rows: int) -> str:
    """The multi-row form of the batch statement, with positional parameters (key, expiry per
    row, then the moment a live key expires before): `INSERT ... ON CONFLICT DO UPDATE ...
    WHERE expired RETURNING key`, as SQLite 3.35+ reads it."""
    table = UsedJti.__tablename__
    values = ", ".join(["(?, ?)"] * rows)
    # Only placeholders and the model's table name go into the text; every value is bound.
    return (
        f'INSERT INTO {table} ("key", expires_at) VALUES {values} '  # noqa: S608
        f'ON CONFLICT ("key") DO UPDATE SET expires_at = excluded.expires_at '
        f'WHERE {table}.expires_at <= ? RETURNING {table}."key"'
    )
