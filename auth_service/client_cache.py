"""Registered clients kept in memory for a moment: client authentication without a database read.

The token endpoint authenticates the client on every request; reading the row each time would
cost more than signing the token. Entries live `ttl` seconds; this instance forgets a client at
once when it changes it (secret, metadata, deletion), other instances within `ttl`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from shared.models import Client


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

    async def get(
        self, client_id: str, load: Callable[[str], Awaitable[Client | None]]
    ) -> Client | None:
        """The cached client, or `load(client_id)`; unknown ids are not cached (no unbounded growth)."""
        now = self._clock()
        entry = self._entries.get(client_id)
        if entry is not None and now - entry[1] < self._ttl:
            return entry[0]
        client = await load(client_id)
        if client is None:
            self._entries.pop(client_id, None)
            return None
        self._entries[client_id] = (client, now)
        self._entries.move_to_end(client_id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return client

    def invalidate(self, client_id: str) -> None:
        self._entries.pop(client_id, None)
