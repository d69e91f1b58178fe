"""Authorization codes: stored as digests, consumed by one conditional UPDATE."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete, update
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import AuthorizationCode


class AuthorizationCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, code: AuthorizationCode) -> None:
        self.session.add(code)
        await self.session.flush()

    async def get_by_hash(self, code_hash: str) -> AuthorizationCode | None:
        return await self.session.get(AuthorizationCode, code_hash)

    async def consume(self, code_hash: str, now: datetime) -> bool:
        """Mark the code used; True for exactly one caller, however many race (architecture §Data)."""
        result = await self.session.exec(
            update(AuthorizationCode)
            .where(
                col(AuthorizationCode.code_hash) == code_hash,
                col(AuthorizationCode.used_at).is_(None),
            )
            .values(used_at=now)
        )
        return result.rowcount == 1

    async def delete_expired(self, before: datetime) -> int:
        result = await self.session.exec(
            delete(AuthorizationCode).where(col(AuthorizationCode.expires_at) < before)
        )
        return result.rowcount
