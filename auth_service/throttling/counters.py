"""Counters with expiry for throttling: in memory by default, in Redis when REDIS_URL is set.

The in-memory store is per process; with several instances behind a load balancer, set REDIS_URL
so that limits hold across them.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol


class CounterStore(Protocol):
    async def incr(self, key: str, ttl: float, *, extend: bool) -> int:
        """Add one and return the count; the key expires `ttl` seconds after it was created
        (fixed window) or, with `extend`, after this hit (sliding idle expiry)."""
        ...

    async def block(self, key: str, seconds: float) -> None: ...

    async def blocked_for(self, key: str) -> float:
        """Seconds left on a block set with `block`, or 0."""
        ...

    async def acquire(self, key: str, seconds: float) -> bool:
        """Set `key` for `seconds` unless it is set: True for the one caller that set it."""
        ...

    async def decr(self, key: str) -> None:
        """Take one back from a live counter (a missing one stays missing)."""
        ...

    async def delete(self, *keys: str) -> None: ...

    async def aclose(self) -> None: ...


class MemoryCounterStore:
    MAX_KEYS = 100_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._clock = clock

    def _live(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._entries.get(key)
        if entry is not None and entry[1] <= now:
            del self._entries[key]
            return None
        if entry is not None:
            self._entries.move_to_end(key)  # least recently used goes first when full
        return entry

    def _make_room(self, now: float) -> None:
        if len(self._entries) >= self.MAX_KEYS:
            for key in [k for k, (_, exp) in self._entries.items() if exp <= now]:
                del self._entries[key]
            while len(self._entries) >= self.MAX_KEYS:  # still full: the least recently used
                self._entries.popitem(last=False)

    async def incr(self, key: str, ttl: float, *, extend: bool) -> int:
        now = self._clock()
        entry = self._live(key, now)
        if entry is None:
            self._make_room(now)
            entry = (0, now + ttl)
        count = entry[0] + 1
        self._entries[key] = (count, now + ttl if extend else entry[1])
        return count

    async def block(self, key: str, seconds: float) -> None:
        now = self._clock()
        self._make_room(now)
        self._entries[key] = (1, now + seconds)

    async def blocked_for(self, key: str) -> float:
        now = self._clock()
        entry = self._live(key, now)
        return 0.0 if entry is None else entry[1] - now

    async def acquire(self, key: str, seconds: float) -> bool:
        now = self._clock()
        if self._live(key, now) is not None:
            return False
        self._make_room(now)
        self._entries[key] = (1, now + seconds)
        return True

    async def decr(self, key: str) -> None:
        entry = self._live(key, self._clock())
        if entry is not None:
            self._entries[key] = (entry[0] - 1, entry[1])

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)

    async def aclose(self) -> None:
        self._entries.clear()


_DECR_IF_EXISTS = (
    "if redis.call('exists', KEYS[1]) == 1 then return redis.call('decr', KEYS[1]) end return 0"
)


class RedisCounterStore:
    def __init__(self, url: str, *, prefix: str = "myauth:rl:") -> None:
        import redis.asyncio as redis

        self._redis: Any = redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._prefix = prefix

    async def incr(self, key: str, ttl: float, *, extend: bool) -> int:
        name = self._prefix + key
        milliseconds = max(1, math.ceil(ttl * 1000))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            if extend:
                pipe.pexpire(name, milliseconds)
            else:
                pipe.pexpire(name, milliseconds, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def block(self, key: str, seconds: float) -> None:
        await self._redis.set(self._prefix + key, 1, px=max(1, math.ceil(seconds * 1000)))

    async def blocked_for(self, key: str) -> float:
        remaining = await self._redis.pttl(self._prefix + key)
        return max(0.0, remaining / 1000) if remaining and remaining > 0 else 0.0

    async def acquire(self, key: str, seconds: float) -> bool:
        name, milliseconds = self._prefix + key, max(1, math.ceil(seconds * 1000))
        return bool(await self._redis.set(name, 1, px=milliseconds, nx=True))

    async def decr(self, key: str) -> None:
        # DECR alone would create a counter without expiry when the key has just expired.
        await self._redis.eval(_DECR_IF_EXISTS, 1, self._prefix + key)

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(self._prefix + key for key in keys))

    async def aclose(self) -> None:
        await self._redis.aclose()


def make_counter_store(redis_url: str | None) -> CounterStore:
    return RedisCounterStore(redis_url) if redis_url else MemoryCounterStore()
