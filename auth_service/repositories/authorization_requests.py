"""Pending authorization requests, consumed exactly once."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import PendingAuthorization


class PendingAuthorizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, pending: PendingAuthorization) -> None:
        self.session.add(pending)
        await self.session.flush()

    async def get_active(self, request_id: str, now: datetime) -> PendingAuthorization | None:
        pending = await self.session.get(PendingAuthorization, request_id)
        if pending is None or pending.expires_at <= now:
            return None
        return pending

    async def consume(self, request_id: str, now: datetime) -> bool:
        """Delete the request if still there and unexpired; True for exactly one caller."""
        result = await self.session.exec(
            delete(PendingAuthorization).where(
                col(PendingAuthorization.id) == request_id,
                col(PendingAuthorization.expires_at) > now,
            )
        )
        return result.rowcount == 1

    async def delete_expired(self, now: datetime) -> int:
        result = await self.session.exec(
            delete(PendingAuthorization).where(col(PendingAuthorization.expires_at) < now)
        )
        return result.rowcount
