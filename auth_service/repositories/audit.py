"""Audit events."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import AuditEvent


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, event: AuditEvent) -> None:
        # Flushed with the unit of work it belongs to: an event for a rolled-back change vanishes too.
        self.session.add(event)

    async def delete_older_than(self, before: datetime) -> int:
        result = await self.session.exec(
            delete(AuditEvent).where(col(AuditEvent.created_at) < before)
        )
        return result.rowcount
