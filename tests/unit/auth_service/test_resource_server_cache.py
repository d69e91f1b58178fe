"""The resource-server look-up cache: misses kept apart and bounded, shared reads, clear."""

from __future__ import annotations

import asyncio

from auth_service.resource_servers.cache import RegisteredResource, ResourceServerCache

NOTES = RegisteredResource(uri="https://notes.example", scopes=frozenset({"read:notes"}))


class Loader:
    def __init__(self, value: RegisteredResource | None) -> None:
        self.value, self.calls = value, 0

    async def __call__(self, uri: str) -> RegisteredResource | None:
        self.calls += 1
        await asyncio.sleep(0)  # let concurrent callers find the read under way
        return self.value


async def test_resource_server_cache_keeps_a_miss_until_ttl() -> None:
    now = [0.0]
    cache, missing = ResourceServerCache(ttl=2.0, clock=lambda: now[0]), Loader(None)
    for _ in range(3):
        assert await cache.get("https://unknown.example", missing) is None
    assert missing.calls == 1
    now[0] = 2.5
    assert await cache.get("https://unknown.example", missing) is None
    assert missing.calls == 2


async def test_resource_server_cache_misses_cannot_push_registered_servers_out() -> None:
    cache = ResourceServerCache(max_entries=1, max_misses=2, clock=lambda: 0.0)
    found = Loader(NOTES)
    await cache.get(NOTES.uri, found)
    for n in range(10):
        await cache.get(f"https://unknown-{n}.example", Loader(None))
    assert await cache.get(NOTES.uri, found) is NOTES
    assert found.calls == 1
    assert list(cache._misses) == ["https://unknown-8.example", "https://unknown-9.example"]


async def test_resource_server_cache_concurrent_misses_share_one_read() -> None:
    cache, missing = ResourceServerCache(clock=lambda: 0.0), Loader(None)
    results = await asyncio.gather(*(cache.get("https://x.example", missing) for _ in range(20)))
    assert results == [None] * 20 and missing.calls == 1


async def test_resource_server_cache_clear_forgets_hits_misses_and_reads_under_way() -> None:
    cache, found, missing = ResourceServerCache(clock=lambda: 0.0), Loader(NOTES), Loader(None)
    await cache.get(NOTES.uri, found)
    await cache.get("https://unknown.example", missing)
    started = asyncio.ensure_future(cache.get("https://late.example", Loader(NOTES)))
    await asyncio.sleep(0)
    cache.clear()
    await started  # began before the clear: its answer is not kept
    assert not cache._entries and not cache._misses
    await cache.get(NOTES.uri, found)
    await cache.get("https://unknown.example", missing)
    assert (found.calls, missing.calls) == (2, 2)
