"""Read-only access to user profiles (the auth service owns and writes them)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import User


class ProfileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_id(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)
