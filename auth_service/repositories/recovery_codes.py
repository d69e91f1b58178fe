"""Second-factor recovery codes, stored as digests and consumed once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel import col, delete, update
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import RecoveryCode


class RecoveryCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace(self, user_id: str, code_hashes: Iterable[str], now: datetime) -> None:
        await self.delete_all(user_id)
        self.session.add_all(
            RecoveryCode(code_hash=h, user_id=user_id, created_at=now) for h in code_hashes
        )
        await self.session.flush()

    async def consume(self, user_id: str, code_hashes: Sequence[str], now: datetime) -> bool:
        """Use up the user's unused code stored under any of `code_hashes` (its storage forms)."""
        result = await self.session.exec(
            update(RecoveryCode)
            .where(
                col(RecoveryCode.user_id) == user_id,
                col(RecoveryCode.code_hash).in_(code_hashes),
                col(RecoveryCode.used_at).is_(None),
            )
            .values(used_at=now)
        )
        return result.rowcount == 1

    async def delete_all(self, user_id: str) -> None:
        await self.session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
