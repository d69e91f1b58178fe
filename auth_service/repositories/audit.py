"""Audit events."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete, update
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

    async def pseudonymize(self, user_id: str, opaque_id: str) -> int:
        """Replace `user_id` in its events by `opaque_id`: the history stays whole, and no
        longer names the person (README "Deleting an account")."""
        result = await self.session.exec(
            update(AuditEvent).where(col(AuditEvent.user_id) == user_id).values(user_id=opaque_id)
        )
        return int(result.rowcount or 0)
