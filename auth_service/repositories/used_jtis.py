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
        """True when `key` was not live yet (and now is); False for a replay.

        One statement: a new key is inserted; an expired row of the same key is taken over (the
        conflict update applies only when the stored expiry has passed); a live one counts no
        row. The conflict clause also settles two instances inserting the key at once."""
        statement = insert_for(self.session, UsedJti).values(key=key, expires_at=expires_at)
        result = await self.session.exec(
            statement.on_conflict_do_update(
                index_elements=["key"],
                set_={"expires_at": statement.excluded.expires_at},
                where=col(UsedJti.expires_at) <= now,
            )
        )
        return bool(result.rowcount == 1)

    async def delete_expired(self, now: datetime) -> int:
        result = await self.session.exec(delete(UsedJti).where(col(UsedJti.expires_at) <= now))
        return int(result.rowcount or 0)
