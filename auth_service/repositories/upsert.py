"""`INSERT ... ON CONFLICT`, in the dialect of the session's database (PostgreSQL or SQLite).

A read-then-insert lets two concurrent requests both see no row and both insert, and the second
fails on the primary key; the database's own conflict clause settles the race instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession


def insert_for(session: AsyncSession, table: Any) -> Any:
    """A dialect-specific INSERT for `table` that offers `on_conflict_do_nothing/_update`."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for the {dialect or 'unbound'} dialect")
