"""The token endpoint's short-lived client cache."""

from __future__ import annotations

from datetime import UTC, datetime

from auth_service.client_cache import ClientCache
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
