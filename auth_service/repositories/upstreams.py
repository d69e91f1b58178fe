"""Upstream providers and the links of their subjects to accounts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import UpstreamLink, UpstreamProvider


class UpstreamProviderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, provider: UpstreamProvider) -> bool:
        """False if a provider with that id exists already."""
        try:
            async with self.session.begin_nested():
                self.session.add(provider)
        except IntegrityError:
            return False
        return True

    async def get(self, provider_id: str) -> UpstreamProvider | None:
        return await self.session.get(UpstreamProvider, provider_id)

    async def list(self) -> Sequence[UpstreamProvider]:
        result = await self.session.exec(
            select(UpstreamProvider).order_by(col(UpstreamProvider.name))
        )
        return result.all()

    async def delete(self, provider_id: str) -> bool:
        """The provider and, by cascade, every link to it."""
        await self.session.exec(
            delete(UpstreamLink).where(col(UpstreamLink.provider_id) == provider_id)
        )
        result = await self.session.exec(
            delete(UpstreamProvider).where(col(UpstreamProvider.id) == provider_id)
        )
        return bool(result.rowcount == 1)


class UpstreamLinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, provider_id: str, subject: str) -> UpstreamLink | None:
        return await self.session.get(UpstreamLink, (provider_id, subject))

    async def add(self, link: UpstreamLink) -> bool:
        """False if that upstream subject is linked already (to this account or another)."""
        try:
            async with self.session.begin_nested():
                self.session.add(link)
        except IntegrityError:
            return False
        return True

    async def list_for_user(self, user_id: str) -> Sequence[UpstreamLink]:
        result = await self.session.exec(
            select(UpstreamLink)
            .where(col(UpstreamLink.user_id) == user_id)
            .order_by(col(UpstreamLink.created_at))
        )
        return result.all()

    async def count_for_user(self, user_id: str) -> int:
        result = await self.session.exec(
            select(func.count())
            .select_from(UpstreamLink)
            .where(col(UpstreamLink.user_id) == user_id)
        )
        return int(result.one())

    async def record_use(self, link: UpstreamLink, now: datetime) -> None:
        await self.session.exec(
            update(UpstreamLink)
            .where(
                col(UpstreamLink.provider_id) == link.provider_id,
                col(UpstreamLink.subject) == link.subject,
            )
            .values(last_used_at=now)
        )

    async def delete_all_for_user(self, user_id: str) -> int:
        result = await self.session.exec(
            delete(UpstreamLink).where(col(UpstreamLink.user_id) == user_id)
        )
        return int(result.rowcount or 0)

    async def delete(self, user_id: str, provider_id: str) -> bool:
        result = await self.session.exec(
            delete(UpstreamLink).where(
                col(UpstreamLink.user_id) == user_id, col(UpstreamLink.provider_id) == provider_id
            )
        )
        return bool(result.rowcount == 1)
