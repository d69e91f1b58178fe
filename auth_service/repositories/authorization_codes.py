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

    async def consume(self, code_hash: str, now: datetime) -> AuthorizationCode | None:
        """Mark the code used and return it; only one caller gets it, however many race
        (architecture §Data). None: no such code, or it was used already.
        """
        result = await self.session.exec(
            update(AuthorizationCode)
            .where(
                col(AuthorizationCode.code_hash) == code_hash,
                col(AuthorizationCode.used_at).is_(None),
            )
            .values(used_at=now)
            .returning(AuthorizationCode)
            # The returned row is the news; nothing else in the session needs syncing.
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        return result.scalars().first()

    async def delete_expired(self, before: datetime) -> int:
        result = await self.session.exec(
            delete(AuthorizationCode).where(col(AuthorizationCode.expires_at) < before)
        )
        return result.rowcount
