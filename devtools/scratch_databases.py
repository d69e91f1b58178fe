"""Throwaway PostgreSQL databases: created empty on a server, dropped when the work is done.

The test suite, the benchmark, the fault suite and `make run-cluster` each need one, on whatever
server their URL names; the statements run on that server's `postgres` maintenance database.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


def admin_url(url: str) -> str:
    """The maintenance database on the server of `url`, where databases are created and dropped."""
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


async def _run_on_server(url: str, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction block.
    engine = create_async_engine(admin_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def database_exists(url: str) -> bool:
    engine = create_async_engine(admin_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name").bindparams(
                    name=make_url(url).database
                )
            )
            return found is not None
    finally:
        await engine.dispose()


def create_database(url: str) -> None:
    asyncio.run(_run_on_server(url, f'CREATE DATABASE "{make_url(url).database}"'))


def drop_database(url: str) -> None:
    name = make_url(url).database
    # WITH (FORCE): a server process a test or a fault left behind must not keep the drop waiting.
    asyncio.run(_run_on_server(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def scratch_database(server_url: str, prefix: str, *, keep: bool = False) -> Iterator[str]:
    """The URL of a new, empty database `<prefix>_<random>` on the server of `server_url`,
    dropped afterwards unless `keep`."""
    url = (
        make_url(server_url)
        .set(database=f"{prefix}_{secrets.token_hex(4)}")
        .render_as_string(hide_password=False)
    )
    create_database(url)
    try:
        yield url
    finally:
        if not keep:
            drop_database(url)
