"""Async engine construction for both services: SQLite (embedded default) or PostgreSQL (asyncpg)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import PoolResetState
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.sqlite_driver import one_trip_dbapi

SQLITE_BUSY_TIMEOUT_MS = 5000


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 5.0,
    connect_timeout: float = 3.0,
    sqlite_begin_immediate: bool = True,
    sqlite_foreign_keys: bool = True,
) -> AsyncEngine:
    """Create the engine for `url`; SQLite gets WAL, a busy timeout and enforced foreign keys.

    `sqlite_begin_immediate` takes SQLite's write lock when a transaction starts, so a
    transaction that reads and then writes cannot fail with SQLITE_BUSY halfway through.
    `sqlite_foreign_keys` False is for migrations only (shared/migrations/env.py).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(
            url, begin_immediate=sqlite_begin_immediate, foreign_keys=sqlite_foreign_keys
        )
    connect_args: dict[str, Any] = {"timeout": connect_timeout, "command_timeout": 30}
    return create_async_engine(
        url,
        hide_parameters=True,  # errors are logged; their bound values may be secrets or hashes
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def _sqlite_engine(url: str, *, begin_immediate: bool, foreign_keys: bool = True) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {}
    if begin_immediate:
        # Every transaction takes the write lock at BEGIN, so only one can run at a time anyway.
        # Queueing for a single pooled connection wakes the next request the moment the lock is
        # free; queueing inside SQLite's busy handler sleeps in growing steps (up to 100 ms) and,
        # under load, gives up with "database is locked".
        options = {"pool_size": 1, "max_overflow": 0, "pool_timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    if make_url(url).get_driver_name() == "aiosqlite":
        # One trip to aiosqlite's thread per statement instead of three or four.
        options["module"] = one_trip_dbapi()
    engine = create_async_engine(
        url,
        hide_parameters=True,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        # _on_reset below decides when a returned connection needs its ROLLBACK.
        pool_reset_on_return=None,
        **options,
    )

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, record: Any, state: PoolResetState) -> None:
        # With the driver in autocommit and BEGIN sent by us, SQLite itself knows whether a
        # transaction is open (aiosqlite reads it without a trip to its thread). SQLAlchemy
        # skips the ROLLBACK only after a transaction of its own; for a connection used without
        # one (the jti batch) it cost a trip, about 0.1 ms of CPU, and changed nothing.
        if not state.asyncio_safe:
            return  # garbage collected outside the event loop: the pool terminates it instead
        driver = record.driver_connection if record is not None else None
        if driver is None or driver.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Off only for migrations: a batch migration copies a table and drops the original, and
        # with foreign keys on that DROP cascades (ON DELETE CASCADE) to every child row.
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if begin_immediate else "BEGIN")

    return engine


def make_sessionmaker(
    engine: AsyncEngine, *, listeners: Mapping[str, Callable[..., None]] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions for `engine`; `listeners` maps session events ("after_commit", ...) to hooks."""
    if not listeners:
        return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    # A subclass per sessionmaker keeps the hooks from reaching other apps in the same process.
    session_class = type("HookedSession", (Session,), {})
    for name, hook in listeners.items():
        event.listen(session_class, name, hook)
    return async_sessionmaker(
        engine, class_=AsyncSession, sync_session_class=session_class, expire_on_commit=False
    )


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"
