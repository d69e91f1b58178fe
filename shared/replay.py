"""Single-use JWT ids (`jti`) within their lifetime: client assertions (RFC 7523 section 3 item
7) and DPoP proofs (RFC 9449 section 11.1).

`first_use` answers True once per key and False for every repeat until the key expires. The
memory guard holds per process (one instance only); the Redis guard holds across every process
sharing that Redis. The auth service also has a database-backed guard (auth_service/security/
replay.py) for several instances without Redis.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
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
    """Per process. When full, the entries closest to expiry go first: a flood of fresh keys can
    then make an old one usable again, so size it above proofs per window."""

    def __init__(
        self, max_keys: int = 200_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._max_keys = max_keys
        self._clock = clock

    async def first_use(self, key: str, ttl: float) -> bool:
        now = self._clock()
        expiry = self._expiry.get(key)
        if expiry is not None and expiry > now:
            return False
        if len(self._expiry) >= self._max_keys:
            for stale in [k for k, exp in self._expiry.items() if exp <= now]:
                del self._expiry[stale]
            while len(self._expiry) >= self._max_keys:
                self._expiry.popitem(last=False)
        self._expiry[key] = now + ttl
        return True

    async def aclose(self) -> None:
        self._expiry.clear()


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
