"""JWT ids already used, in the database: single use across instances that share no Redis."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from auth_service.repositories.upsert import insert_for
from shared.models import UsedJti


class UsedJtiRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def first_use(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """True when `key` was not live yet (and now is); False for a replay. The conflict
        clause settles two instances inserting the same key at once: one row, one winner."""
        await self.session.exec(
            delete(UsedJti).where(col(UsedJti.key) == key, col(UsedJti.expires_at) <= now)
        )
        result = await self.session.exec(
            insert_for(self.session, UsedJti)
            .values(key=key, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        return bool(result.rowcount == 1)

    async def delete_expired(self, now: datetime) -> int:
        result = await self.session.exec(delete(UsedJti).where(col(UsedJti.expires_at) <= now))
        return int(result.rowcount or 0)
