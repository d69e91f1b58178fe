"""Alembic environment: async engine, batch mode for SQLite, metadata from `shared.models`."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import shared.models  # noqa: F401 - registers every table
from shared.database import make_engine

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or context.get_x_argument(
        as_dictionary=True
    ).get("url")
    if not url:
        raise RuntimeError("no database URL: use `auth-service db upgrade` or `alembic -x url=...`")
    return url


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode recreates tables
        compare_type=True,
        literal_binds=connection is None,
    )


def run_migrations_offline() -> None:
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            _check_foreign_keys(connection)


def _check_foreign_keys(connection: Connection) -> None:
    """SQLite migrates with foreign keys off (SQLite's ALTER TABLE documentation, "Making Other
    Kinds Of Table Schema Changes": a batch copy-and-drop would otherwise cascade to every child
    row), so check them before the transaction commits."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"migration left rows with broken foreign keys: {broken[:5]}")


async def run_migrations_online() -> None:
    engine = make_engine(_url(), sqlite_begin_immediate=False, sqlite_foreign_keys=False)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
