"""Registered clients kept in memory for a moment: client authentication without a database read.

The token endpoint authenticates the client on every request; reading the row each time would
cost more than signing the token. Entries live `ttl` seconds; this instance forgets a client as
soon as the unit of work that changed it (secret, metadata, deletion) commits, and a change made
by another instance or the CLI when the revocation feed (or Redis) brings its notice (see
RevocationMirror); `ttl` bounds anything that notice does not reach.

Concurrent misses for one client share a single read: when an entry expires under load, hundreds
of requests would otherwise all query the same row at once and queue on the database.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from shared.models import Client

Loader = Callable[[str], Awaitable[Client | None]]


class _LoadAbandoned(Exception):
    """The request doing the shared read was cancelled; a waiter reads for itself."""


class ClientCache:
    def __init__(
        self,
        *,
        ttl: float = 2.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl, self._max_entries, self._clock = ttl, max_entries, clock
        self._entries: OrderedDict[str, tuple[Client, float]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[Client | None]] = {}
        # Bumped by every invalidation: a read that began before it must not refill the cache.
        self._generation = 0

    async def get(self, client_id: str, load: Loader) -> Client | None:
        """The cached client, or `load(client_id)`; unknown ids are not cached (no unbounded growth)."""
        entry = self._entries.get(client_id)
        if entry is not None and self._clock() - entry[1] < self._ttl:
            return entry[0]
        pending = self._loading.get(client_id)
        if pending is not None:
            try:
                # shield: a cancelled waiter must not cancel the read others are waiting for.
                return await asyncio.shield(pending)
            except _LoadAbandoned:
                pass
        return await self._load(client_id, load)

    async def _load(self, client_id: str, load: Loader) -> Client | None:
        future: asyncio.Future[Client | None] = asyncio.get_running_loop().create_future()
        self._loading[client_id] = future
        generation, started = self._generation, self._clock()
        try:
            client = await load(client_id)
        except BaseException as exc:
            cancelled = isinstance(exc, asyncio.CancelledError)
            future.set_exception(_LoadAbandoned() if cancelled else exc)
            future.exception()  # waiters re-raise it; no "never retrieved" report when there are none
            raise
        finally:
            if self._loading.get(client_id) is future:
                del self._loading[client_id]
        future.set_result(client)
        if client is None:
            self._entries.pop(client_id, None)
        elif generation == self._generation:
            self._entries[client_id] = (client, started)
            self._entries.move_to_end(client_id)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return client

    def invalidate(self, client_id: str) -> None:
        self._entries.pop(client_id, None)
        self._loading.pop(client_id, None)
        self._generation += 1
