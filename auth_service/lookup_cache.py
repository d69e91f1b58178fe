"""Rows kept in memory for a moment, by key, so a hot path can skip the database read.

The shape both registries share (clients, resource servers): entries live `ttl` seconds, and the
unit of work (this instance) or the revocation mirror (other instances) calls `invalidate` or
`clear` when a change commits; `ttl` bounds anything those notices do not reach.

Concurrent misses for one key share a single read: when an entry expires under load, hundreds
of requests would otherwise all query the same row at once and queue on the database. Misses
(no such row) are kept only where `max_misses` allows, apart from the rows: keys a caller may
choose freely must not push the real rows out.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class _LoadAbandoned(Exception):
    """The request doing the shared read was cancelled; a waiter reads for itself."""


class LookupCache(Generic[V]):
    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int,
        max_misses: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl, self._clock = ttl, clock
        self._max_entries, self._max_misses = max_entries, max_misses
        self._entries: OrderedDict[str, tuple[V, float]] = OrderedDict()
        # Keys the last read found nothing for, with when that read began.
        self._misses: OrderedDict[str, float] = OrderedDict()
        self._loading: dict[str, asyncio.Future[V | None]] = {}
        # Bumped by every invalidation: a read that began before it must not refill the cache.
        self._generation = 0

    async def get(
        self, key: str, load: Callable[[str], Awaitable[V | None]], *, share: bool = True
    ) -> V | None:
        """The cached value (None for a remembered miss), or `load(key)`. With `share` False
        (a caller inside a transaction) a miss is read by the caller alone, not behind another
        caller's read: that read may be waiting for the connection this caller holds."""
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry[1] < self._ttl:
            return entry[0]
        missed = self._misses.get(key)
        if missed is not None and now - missed < self._ttl:
            return None
        if not share:
            generation, started = self._generation, self._clock()
            value = await load(key)
            self._fill(key, value, generation, started)
            return value
        pending = self._loading.get(key)
        if pending is not None:
            try:
                # shield: a cancelled waiter must not cancel the read others are waiting for.
                return await asyncio.shield(pending)
            except _LoadAbandoned:
                pass
        return await self._load(key, load)

    async def _load(self, key: str, load: Callable[[str], Awaitable[V | None]]) -> V | None:
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        generation, started = self._generation, self._clock()
        try:
            value = await load(key)
        except BaseException as exc:
            cancelled = isinstance(exc, asyncio.CancelledError)
            future.set_exception(_LoadAbandoned() if cancelled else exc)
            future.exception()  # waiters re-raise it; no "never retrieved" report when there are none
            raise
        finally:
            if self._loading.get(key) is future:
                del self._loading[key]
        future.set_result(value)
        self._fill(key, value, generation, started)
        return value

    def _fill(self, key: str, value: V | None, generation: int, started: float) -> None:
        """Keep what a read found, unless an invalidation came after the read began."""
        self._entries.pop(key, None)
        self._misses.pop(key, None)
        if generation == self._generation:
            if value is not None:
                put_bounded(self._entries, key, (value, started), self._max_entries)
            elif self._max_misses > 0:
                put_bounded(self._misses, key, started, self._max_misses)

    def invalidate(self, key: str) -> None:
        self._entries.pop(key, None)
        self._misses.pop(key, None)
        self._loading.pop(key, None)
        self._generation += 1

    def clear(self) -> None:
        self._entries.clear()
        self._misses.clear()
        self._loading.clear()
        self._generation += 1


T = TypeVar("T")


K = TypeVar("K")


def put_bounded(entries: OrderedDict[K, T], key: K, value: T, limit: int) -> None:
    """Newest last; the least recently filled go first past `limit`."""
    entries[key] = value
    entries.move_to_end(key)
    while len(entries) > limit:
        entries.popitem(last=False)
