"""Direct database access for arranging and asserting, one short transaction per call.

Short transactions matter on SQLite: a test that held one open would block or hide the app's writes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from auth_service.repositories import Repositories

M = TypeVar("M", bound=SQLModel)
T = TypeVar("T")


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)

    async def get(self, model: type[M], key: Any) -> M | None:
        async with self.sessionmaker() as session:
            return await session.get(model, key)

    async def all(self, model: type[M], *where: Any) -> Sequence[M]:
        async with self.sessionmaker() as session:
            result = await session.exec(select(model).where(*where))
            return result.all()

    async def count(self, model: type[M], *where: Any) -> int:
        return len(await self.all(model, *where))

    async def add(self, *rows: SQLModel) -> None:
        async with self.sessionmaker() as session:
            session.add_all(rows)
            await session.commit()

    async def run(self, work: Callable[[Repositories], Awaitable[T]]) -> T:
        """Run `work` with repositories in one committed transaction."""
        async with self.sessionmaker() as session:
            result = await work(Repositories.over(session))
            await session.commit()
            return result
