"""Cluster-wide mutual exclusion and bookkeeping for scheduled jobs."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

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
        job = await self.session.get(ScheduledJob, name)
        if job is None:
            self.session.add(ScheduledJob(name=name, last_run_at=now))
        else:
            job.last_run_at = now
        await self.session.flush()
