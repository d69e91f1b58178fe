"""Refresh tokens: stored as digests, rotated by one conditional UPDATE."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete, update
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import RefreshToken


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: RefreshToken) -> None:
        self.session.add(token)
        await self.session.flush()

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        return await self.session.get(RefreshToken, token_hash)

    async def rotate(self, token_hash: str, now: datetime) -> bool:
        """Mark the token replaced; True for exactly one caller among concurrent uses."""
        result = await self.session.exec(
            update(RefreshToken)
            .where(
                col(RefreshToken.token_hash) == token_hash,
                col(RefreshToken.rotated_at).is_(None),
                col(RefreshToken.revoked_at).is_(None),
            )
            .values(rotated_at=now)
        )
        return result.rowcount == 1

    async def renew(self, token_hash: str, expires_at: datetime) -> bool:
        """Push back the expiry of a live token that is kept rather than rotated; False when it
        was revoked or rotated meanwhile."""
        result = await self.session.exec(
            update(RefreshToken)
            .where(
                col(RefreshToken.token_hash) == token_hash,
                col(RefreshToken.rotated_at).is_(None),
                col(RefreshToken.revoked_at).is_(None),
            )
            .values(expires_at=expires_at)
        )
        return result.rowcount == 1

    async def revoke_grant(self, grant_id: str, now: datetime) -> None:
        await self.session.exec(
            update(RefreshToken)
            .where(col(RefreshToken.grant_id) == grant_id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=now)
        )

    async def supersede_live_children(self, parent_hash: str, now: datetime) -> int:
        """Mark the not-yet-used successors of a token as used; returns how many there were."""
        result = await self.session.exec(
            update(RefreshToken)
            .where(
                col(RefreshToken.parent_hash) == parent_hash,
                col(RefreshToken.rotated_at).is_(None),
                col(RefreshToken.revoked_at).is_(None),
            )
            .values(rotated_at=now)
        )
        return result.rowcount

    async def delete_expired(self, before: datetime) -> int:
        result = await self.session.exec(
            delete(RefreshToken).where(col(RefreshToken.expires_at) < before)
        )
        return result.rowcount
