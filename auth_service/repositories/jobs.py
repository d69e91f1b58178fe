"""Cluster-wide mutual exclusion and bookkeeping for scheduled jobs."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from auth_service.repositories.upsert import insert_for
from shared.models import ScheduledJob


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def try_lock(self, name: str) -> bool:
        """Hold a transaction-scoped lock named `name`; False if another instance holds it.

        PostgreSQL: an advisory lock. SQLite: the transaction already holds the database's
        single writer lock (BEGIN IMMEDIATE), which is exclusion enough for one host.
        """
        if self.session.bind is not None and self.session.bind.dialect.name == "postgresql":
            key = zlib.crc32(name.encode()) & 0x7FFFFFFF
            result = await self.session.exec(  # type: ignore[call-overload]
                text("SELECT pg_try_advisory_xact_lock(:key)").bindparams(key=key)
            )
            return bool(result.scalar())
        await self.session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        return True

    async def is_due(self, name: str, interval: timedelta, now: datetime) -> bool:
        job = await self.session.get(ScheduledJob, name)
        return job is None or job.last_run_at <= now - interval

    async def mark_run(self, name: str, now: datetime) -> None:
        # An upsert, not get-then-add: the job's lock already excludes a second writer, but the
        # first run of a job on a new cluster must not depend on it to avoid a duplicate key.
        statement = insert_for(self.session, ScheduledJob).values(name=name, last_run_at=now)
        await self.session.exec(
            statement.on_conflict_do_update(
                index_elements=["name"], set_={"last_run_at": statement.excluded.last_run_at}
            )
        )
