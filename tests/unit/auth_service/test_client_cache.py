"""The token endpoint's short-lived client cache."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from auth_service.clients.cache import ClientCache
from shared.models import Client

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Loader:
    def __init__(self, client: Client | None) -> None:
        self.client, self.calls = client, 0

    async def __call__(self, client_id: str) -> Client | None:
        self.calls += 1
        return self.client


def _client() -> Client:
    return Client(client_id="c1", name="App", created_at=NOW, updated_at=NOW)


async def test_client_cache_reads_once_within_ttl_then_again() -> None:
    now = [0.0]
    cache = ClientCache(ttl=2.0, clock=lambda: now[0])
    loader = Loader(_client())
    assert await cache.get("c1", loader) is loader.client
    assert await cache.get("c1", loader) is loader.client
    assert loader.calls == 1
    now[0] = 2.5
    await cache.get("c1", loader)
    assert loader.calls == 2


async def test_client_cache_invalidate_forces_a_read_and_unknown_ids_are_not_kept() -> None:
    cache = ClientCache(clock=lambda: 0.0)
    loader = Loader(_client())
    await cache.get("c1", loader)
    cache.invalidate("c1")
    await cache.get("c1", loader)
    assert loader.calls == 2
    missing = Loader(None)
    for _ in range(3):
        assert await cache.get("nope", missing) is None
    assert missing.calls == 3 and "nope" not in cache._entries


async def test_client_cache_keeps_at_most_max_entries() -> None:
    cache = ClientCache(max_entries=2, clock=lambda: 0.0)
    for client_id in ("a", "b", "c"):
        await cache.get(client_id, Loader(_client()))
    assert list(cache._entries) == ["b", "c"]


class GatedLoader(Loader):
    """A loader that waits for the test to open the gate, so reads can overlap."""

    def __init__(self, client: Client | None) -> None:
        super().__init__(client)
        self.gate = asyncio.Event()

    async def __call__(self, client_id: str) -> Client | None:
        self.calls += 1
        await self.gate.wait()
        return self.client


async def test_concurrent_misses_share_one_read() -> None:
    cache = ClientCache(clock=lambda: 0.0)
    loader = GatedLoader(_client())
    waiters = [asyncio.create_task(cache.get("c1", loader)) for _ in range(50)]
    await asyncio.sleep(0)
    loader.gate.set()
    results = await asyncio.gather(*waiters)
    assert loader.calls == 1
    assert all(result is loader.client for result in results)
    assert cache._loading == {}


async def test_a_failed_shared_read_fails_every_waiter_and_is_not_kept() -> None:
    cache = ClientCache(clock=lambda: 0.0)

    class Down(GatedLoader):
        async def __call__(self, client_id: str) -> Client | None:
            await super().__call__(client_id)
            raise ConnectionError("database unavailable")

    loader = Down(_client())
    waiters = [asyncio.create_task(cache.get("c1", loader)) for _ in range(3)]
    await asyncio.sleep(0)
    loader.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert [type(result) for result in results] == [ConnectionError] * 3
    assert loader.calls == 1 and cache._entries == {} and cache._loading == {}


async def test_a_cancelled_reader_does_not_strand_its_waiters() -> None:
    cache = ClientCache(clock=lambda: 0.0)
    loader = GatedLoader(_client())
    leader = asyncio.create_task(cache.get("c1", loader))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(cache.get("c1", loader))
    await asyncio.sleep(0)
    leader.cancel()
    await asyncio.sleep(0)
    loader.gate.set()
    assert await waiter is loader.client
    assert leader.cancelled() and loader.calls == 2


async def test_a_read_overtaken_by_invalidation_is_not_cached() -> None:
    cache = ClientCache(clock=lambda: 0.0)
    stale = GatedLoader(_client())
    reading = asyncio.create_task(cache.get("c1", stale))
    await asyncio.sleep(0)
    cache.invalidate("c1")  # the client changed while the old row was being read
    stale.gate.set()
    await reading
    assert "c1" not in cache._entries
    fresh = Loader(_client())
    assert await cache.get("c1", fresh) is fresh.client and fresh.calls == 1
