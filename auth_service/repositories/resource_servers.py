"""Registered resource servers (RFC 8707), looked up by their identifier URI."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import ResourceServer


class ResourceServerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # Every identifier written through this repository: once the unit of work commits, the
        # in-process ResourceServerCache forgets them (see UnitOfWork.commit); a rollback
        # empties the set.
        self.changed: set[str] = set()

    async def add(self, server: ResourceServer) -> bool:
        """Insert `server`; False when its identifier is taken. The unique index decides two
        registrations at once; a savepoint keeps the rest of the transaction usable."""
        self.changed.add(server.uri)
        try:
            async with self.session.begin_nested():
                self.session.add(server)
        except IntegrityError:
            return False
        return True

    async def save(self, server: ResourceServer) -> ResourceServer:
        """Write the changes made to a loaded resource server."""
        self.changed.add(server.uri)
        await self.session.flush()
        return server

    async def get_by_uri(self, uri: str) -> ResourceServer | None:
        result = await self.session.exec(select(ResourceServer).where(ResourceServer.uri == uri))
        return result.first()

    async def get_by_id(self, server_id: str) -> ResourceServer | None:
        return await self.session.get(ResourceServer, server_id)

    async def list_all(self) -> Sequence[ResourceServer]:
        result = await self.session.exec(
            select(ResourceServer).order_by(col(ResourceServer.created_at), col(ResourceServer.uri))
        )
        return result.all()

    async def list_owned_by(self, owner_id: str) -> Sequence[ResourceServer]:
        result = await self.session.exec(
            select(ResourceServer)
            .where(ResourceServer.owner_id == owner_id)
            .order_by(col(ResourceServer.created_at), col(ResourceServer.uri))
        )
        return result.all()

    async def delete(self, server: ResourceServer) -> None:
        self.changed.add(server.uri)
        await self.session.exec(delete(ResourceServer).where(col(ResourceServer.id) == server.id))
