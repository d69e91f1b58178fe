"""Registered clients kept in memory for a moment: client authentication without a database read.

The token endpoint authenticates the client on every request; reading the row each time would
cost more than signing the token. Entries live `ttl` seconds; this instance forgets a client as
soon as the unit of work that changed it (secret, metadata, deletion) commits, and a change made
by another instance or the CLI when the revocation feed (or Redis) brings its notice (see
RevocationMirror); `ttl` bounds anything that notice does not reach. Concurrent misses share one
read (see LookupCache).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from auth_service.lookup_cache import LookupCache
from shared.models import Client


class ClientCache(LookupCache[Client]):
    """Unknown client ids are not kept: anyone can send any number of them."""

    def __init__(
        self,
        *,
        ttl: float = 2.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(ttl=ttl, max_entries=max_entries, max_misses=0, clock=clock)
