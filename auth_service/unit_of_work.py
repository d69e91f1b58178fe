"""One request's database work: a session opened only when something needs it, committed once.

The token endpoint can serve a client_credentials request from memory alone (cached client,
signing key, batched audit); opening a session it would never use still cost a transaction. So
the session is made on first use, and a request that used none commits nothing.

Clients and resource servers written in the unit are dropped from this instance's caches right
after the commit: not before (another request could cache the old row again until it expires),
not on a rollback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from auth_service.audit import AuditBuffer
from auth_service.clients.cache import ClientCache
from auth_service.repositories import Repositories
from auth_service.resource_servers.cache import RegisteredResource, ResourceServerCache


class UnitOfWork:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        buffer: AuditBuffer,
        client_cache: ClientCache,
        resource_cache: ResourceServerCache,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._buffer = buffer
        self._client_cache = client_cache
        self._resource_cache = resource_cache
        self._repos: Repositories | None = None
        # Routine audit events describing this unit's work: real only once it commits.
        self._held: list[dict[str, Any]] = []

    @classmethod
    @asynccontextmanager
    async def of_app(cls, state: Any) -> AsyncIterator[UnitOfWork]:
        """A unit over the app's database, caches and audit buffer (`app.state`): committed
        when the block ends normally, rolled back when it raises, closed either way."""
        uow = cls(
            state.sessionmaker, state.audit_buffer, state.client_cache, state.resource_server_cache
        )
        try:
            yield uow
            await uow.commit()
        except BaseException:
            await uow.rollback()
            raise
        finally:
            await uow.close()

    @property
    def repos(self) -> Repositories:
        if self._repos is None:
            self._repos = Repositories.over(self._sessionmaker())
        return self._repos

    def in_transaction(self) -> bool:
        """A transaction is open, without making a session just to ask (the client-auth path
        of a request served from memory never needs one)."""
        return self._repos is not None and self._repos.session.in_transaction()

    @property
    def session(self) -> AsyncSession:
        return self.repos.session

    def hold(self, row: dict[str, Any]) -> None:
        self._held.append(row)

    async def resource_server(self, uri: str) -> RegisteredResource | None:
        """The registered resource server `uri` identifies (RFC 8707 §2), from this instance's
        cache; a session is opened only on a miss. A unit that changed resource servers reads
        its own session instead: its change is not committed, so it must neither be missed
        here nor reach the cache. A unit inside a transaction reads a miss itself: waiting for
        a read another request started, which may wait for the connection this unit holds (on
        SQLite the only one), would last until the pool gives up (LookupCache.get)."""
        if self._repos is not None and self._repos.resource_servers.changed:
            return await self._read_resource_server(uri)
        return await self._resource_cache.get(
            uri, self._read_resource_server, share=not self.in_transaction()
        )

    async def _read_resource_server(self, uri: str) -> RegisteredResource | None:
        # The request's own session, not a second connection: requests that already hold one
        # and all wait for a second could exhaust the pool.
        server = await self.repos.resource_servers.get_by_uri(uri)
        return None if server is None else RegisteredResource.of(server)

    async def commit(self) -> None:
        """Commit (if a session was opened), then forget the changed clients and resource
        servers in the caches and release the held routine events."""
        if self._repos is not None:
            await self._repos.session.commit()
            for client_id in self._repos.clients.changed:
                self._client_cache.invalidate(client_id)
            self._repos.clients.changed.clear()
            for uri in self._repos.resource_servers.changed:
                self._resource_cache.invalidate(uri)
            self._repos.resource_servers.changed.clear()
        self._buffer.extend(self._held)
        self._held.clear()

    async def rollback(self) -> None:
        self._held.clear()
        if self._repos is not None:
            self._repos.clients.changed.clear()
            self._repos.resource_servers.changed.clear()
            await self._repos.session.rollback()

    async def close(self) -> None:
        if self._repos is not None:
            await self._repos.session.close()
