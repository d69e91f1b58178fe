"""Test databases: a SQLite file per test by default, PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

import shared.models  # noqa: F401 - registers every table
from devtools.scratch_databases import create_database, database_exists, scratch_database

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or None
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)


def worker_database_url(url: str) -> str:
    """Under pytest-xdist each worker gets its own PostgreSQL database (created if missing), since
    tests truncate every table; without xdist it is the given database itself."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base = make_url(url)
    worker_url = base.set(database=f"{base.database}_{worker}").render_as_string(
        hide_password=False
    )
    if not asyncio.run(database_exists(worker_url)):
        create_database(worker_url)
    return worker_url


async def reset_postgres_schema(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.drop_all)
            await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
            await connection.run_sync(SQLModel.metadata.create_all)
    finally:
        await engine.dispose()


async def truncate_all(engine: AsyncEngine) -> None:
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@contextmanager
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """An empty database of the kind under test, for migrations and live servers."""
    if TEST_DATABASE_URL is None or not is_postgres(TEST_DATABASE_URL):
        yield sqlite_url(tmp_path / f"fresh-{secrets.token_hex(4)}.db")
        return
    with scratch_database(
        TEST_DATABASE_URL, f"{make_url(TEST_DATABASE_URL).database}_fresh"
    ) as url:
        yield url
