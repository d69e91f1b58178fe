"""The Alembic history builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from auth_service import migrations
from shared.database import make_engine
from tests.support.databases import fresh_database


def _diff(url: str) -> tuple[list[Any], set[str]]:
    async def run() -> tuple[list[Any], set[str]]:
        engine = make_engine(url, sqlite_begin_immediate=False)

        def compare(connection: Connection) -> tuple[list[Any], set[str]]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, SQLModel.metadata), set(
                inspect(connection).get_table_names()
            )

        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_migrations_upgrade_head_matches_the_models(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        migrations.upgrade(url)
        diff, tables = _diff(url)
    assert diff == []
    assert {t.name for t in SQLModel.metadata.sorted_tables} | {"alembic_version"} == tables


def test_migrations_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        migrations.upgrade(url)
        migrations.downgrade(url, "base")
        _, tables = _diff(url)
        assert tables <= {"alembic_version"}
        migrations.upgrade(url)
        diff, _ = _diff(url)
    assert diff == []
