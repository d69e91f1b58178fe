"""Pushed authorization requests (RFC 9126), looked up by the digest of their request_uri."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete, update
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import PushedAuthorizationRequest


class PushedRequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, pushed: PushedAuthorizationRequest) -> None:
        self.session.add(pushed)
        await self.session.flush()

    async def get_by_hash(self, request_uri_hash: str) -> PushedAuthorizationRequest | None:
        return await self.session.get(PushedAuthorizationRequest, request_uri_hash)

    async def use(self, request_uri_hash: str, now: datetime) -> bool:
        """Mark the request used; True for exactly one caller (one conditional UPDATE, so two
        sign-ins that began with the same request_uri cannot both get a code)."""
        result = await self.session.exec(
            update(PushedAuthorizationRequest)
            .where(
                col(PushedAuthorizationRequest.request_uri_hash) == request_uri_hash,
                col(PushedAuthorizationRequest.used_at).is_(None),
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    async def delete_expired(self, now: datetime) -> int:
        """Rows that expired at or before `now` (the caller keeps them a while past their
        expiry: a sign-in that began before it may still use them up)."""
        result = await self.session.exec(
            delete(PushedAuthorizationRequest).where(
                col(PushedAuthorizationRequest.expires_at) <= now
            )
        )
        return int(result.rowcount or 0)
