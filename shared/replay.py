"""Single-use JWT ids (`jti`) within their lifetime: client assertions (RFC 7523 section 3 item
7) and DPoP proofs (RFC 9449 section 11.1).

`first_use` answers True once per key and False for every repeat until the key expires. The
memory guard holds per process (one instance only); the Redis guard holds across every process
sharing that Redis. The auth service also has a database-backed guard (auth_service/security/
replay.py) for several instances without Redis.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import time
from collections.abc import Callable
from typing import Any, Protocol


def replay_key(purpose: str, issuer: str, jti: str) -> str:
    """One digest per (purpose, issuer, jti): fixed length, and no client data in the clear."""
    return hashlib.sha256(f"{purpose}\x00{issuer}\x00{jti}".encode()).hexdigest()


class ReplayGuard(Protocol):
    async def first_use(self, key: str, ttl: float) -> bool:
        """True the first time `key` is seen within `ttl` seconds, False for a replay."""
        ...

    async def aclose(self) -> None: ...


class MemoryReplayGuard:
    """Per process. Expired entries leave first; when it is full of live ones, those closest to
    expiry go: a flood of fresh keys can then make an old one usable again, so size it above
    proofs per window. A heap of expiries keeps both at O(log n) a key."""

    def __init__(
        self, max_keys: int = 200_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._expiry: dict[str, float] = {}
        # (expiry, key); an entry whose key has since expired and come back is stale: skipped.
        self._by_expiry: list[tuple[float, str]] = []
        self._max_keys = max_keys
        self._clock = clock

    async def first_use(self, key: str, ttl: float) -> bool:
        now = self._clock()
        entries, by_expiry = self._expiry, self._by_expiry
        expiry = entries.get(key)
        if expiry is not None and expiry > now:
            return False
        # A scan of every entry once full cost a millisecond per request at 200,000 keys.
        while by_expiry and (by_expiry[0][0] <= now or len(entries) >= self._max_keys):
            soonest, old = heapq.heappop(by_expiry)
            if entries.get(old) == soonest:
                del entries[old]
        entries[key] = now + ttl
        heapq.heappush(by_expiry, (now + ttl, key))
        return True

    async def aclose(self) -> None:
        self._expiry.clear()
        self._by_expiry.clear()


class RedisReplayGuard:
    def __init__(self, url: str, *, prefix: str = "myauth:jti:") -> None:
        import redis.asyncio as redis

        self._redis: Any = redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._prefix = prefix

    async def first_use(self, key: str, ttl: float) -> bool:
        milliseconds = max(1, math.ceil(ttl * 1000))
        return bool(await self._redis.set(self._prefix + key, 1, nx=True, px=milliseconds))

    async def aclose(self) -> None:
        await self._redis.aclose()


def make_replay_guard(redis_url: str | None) -> ReplayGuard:
    return RedisReplayGuard(redis_url) if redis_url else MemoryReplayGuard()
