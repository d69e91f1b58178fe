"""Pushed authorization requests (RFC 9126), looked up by the digest of their request_uri."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import PushedAuthorizationRequest


class PushedRequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def delete_expired(self, now: datetime) -> int:
        result = await self.session.exec(
            delete(PushedAuthorizationRequest).where(
                col(PushedAuthorizationRequest.expires_at) <= now
            )
        )
        return int(result.rowcount or 0)
