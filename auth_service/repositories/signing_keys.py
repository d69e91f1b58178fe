"""The signing key schedule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import SigningKey


class SigningKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_all(self) -> Sequence[SigningKey]:
        result = await self.session.exec(select(SigningKey).order_by(col(SigningKey.activates_at)))
        return result.all()

    async def add(self, key: SigningKey) -> None:
        self.session.add(key)
        await self.session.flush()

    async def retired_before(self, instant: datetime) -> Sequence[SigningKey]:
        result = await self.session.exec(
            select(SigningKey).where(col(SigningKey.retires_at) < instant)
        )
        return result.all()

    async def delete(self, kid: str) -> None:
        await self.session.exec(delete(SigningKey).where(col(SigningKey.kid) == kid))
