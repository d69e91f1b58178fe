"""shared.jwks.JwksCache against a hostile issuer (httpx.MockTransport): TTLs, refetch limits, bad sets.

Rules from the security guide: keep the last good key set when a fetch fails, refetch an unknown
`kid` at most once per interval, never take private or symmetric keys from the network, and trust a
discovery document only when it names the expected issuer (RFC 8414 §3.3).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from auth_service.security.keys import NewKey, new_signing_key
from shared.jwks import MAX_JWKS_BYTES, JwksCache
from shared.tokens import load_private_key

ISSUER = "https://issuer.test"
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/keys/jwks.json"
REFETCH_INTERVAL = 10.0
MIN_TTL = 10.0
DEFAULT_TTL = 300.0


class FakeClock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Issuer:
    """A programmable issuer for httpx.MockTransport; records every request path."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.discovery: Any = {"issuer": ISSUER, "jwks_uri": ISSUER + JWKS_PATH}
        self.jwks_body: bytes = json.dumps({"keys": keys}).encode()
        self.jwks_status = 200
        self.cache_control: str | None = "public, max-age=60"
        self.error: Exception | None = None
        self.paths: list[str] = []

    def serve_keys(self, keys: list[dict[str, Any]]) -> None:
        self.jwks_body = json.dumps({"keys": keys}).encode()

    def jwks_fetches(self) -> int:
        return self.paths.count(JWKS_PATH)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.error is not None:
            raise self.error
        if request.url.path == DISCOVERY_PATH:
            return httpx.Response(200, json=self.discovery)
        if request.url.path == JWKS_PATH:
            headers = {"Cache-Control": self.cache_control} if self.cache_control else {}
            return httpx.Response(self.jwks_status, content=self.jwks_body, headers=headers)
        return httpx.Response(404)


@pytest.fixture(scope="module")
def key_a() -> NewKey:
    return new_signing_key("RS256")


@pytest.fixture(scope="module")
def key_b() -> NewKey:
    return new_signing_key("RS256")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def issuer(key_a: NewKey) -> Issuer:
    return Issuer([key_a.public_jwk])


@pytest.fixture
async def make_cache(issuer: Issuer, clock: FakeClock) -> AsyncIterator[Callable[..., JwksCache]]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(issuer))
    caches: list[JwksCache] = []

    def make(**overrides: Any) -> JwksCache:
        options: dict[str, Any] = {
            "issuer": ISSUER,
            "default_ttl": DEFAULT_TTL,
            "min_ttl": MIN_TTL,
            "refetch_interval": REFETCH_INTERVAL,
            "clock": clock,
        }
        options.update(overrides)
        cache = JwksCache(http, **options)
        caches.append(cache)
        return cache

    yield make
    for cache in caches:
        await cache.aclose()
    await http.aclose()


@pytest.fixture
def cache(make_cache: Callable[..., JwksCache]) -> JwksCache:
    return make_cache()


async def settle() -> None:
    """Let any background refresh the cache may have started run to completion."""
    for _ in range(50):
        await asyncio.sleep(0)


def private_jwk(key: NewKey) -> dict[str, Any]:
    data: dict[str, Any] = load_private_key(key.pem, "RS256").as_dict(private=True)
    data.update({"kid": key.kid, "alg": "RS256", "use": "sig"})
    return data


HS_KEY = {"kty": "oct", "kid": "hmac", "alg": "HS256", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}


# --- discovery and first fetch -----------------------------------------------------------------------


async def test_jwks_cache_refresh_follows_discovery_jwks_uri(
    cache: JwksCache, issuer: Issuer, key_a: NewKey
) -> None:
    assert await cache.refresh() is True

    assert issuer.paths == [DISCOVERY_PATH, JWKS_PATH]
    assert cache.kids == {key_a.kid}
    found = await cache.get_verification_key(key_a.kid)
    assert found is not None and found[0] == "RS256"


async def test_jwks_cache_configured_jwks_url_skips_discovery(
    make_cache: Callable[..., JwksCache], issuer: Issuer, key_a: NewKey
) -> None:
    cache = make_cache(jwks_url=ISSUER + JWKS_PATH)

    assert await cache.refresh() is True

    assert issuer.paths == [JWKS_PATH]


@pytest.mark.parametrize(
    "discovery",
    [
        {"issuer": "https://evil.test", "jwks_uri": "https://evil.test/jwks.json"},
        {"issuer": ISSUER + "/", "jwks_uri": ISSUER + JWKS_PATH},
        {"jwks_uri": ISSUER + JWKS_PATH},
        ["not", "an", "object"],
    ],
    ids=["other-issuer", "issuer-trailing-slash", "no-issuer", "not-an-object"],
)
async def test_jwks_cache_discovery_naming_another_issuer_is_refused(
    cache: JwksCache, issuer: Issuer, key_a: NewKey, discovery: Any
) -> None:
    issuer.discovery = discovery

    assert await cache.refresh() is False

    # RFC 8414 §3.3: the document is not used, so its jwks_uri is never fetched.
    assert issuer.paths == [DISCOVERY_PATH]
    assert cache.kids == frozenset()
    assert await cache.get_verification_key(key_a.kid) is None


async def test_jwks_cache_discovery_without_jwks_uri_is_refused(
    cache: JwksCache, issuer: Issuer
) -> None:
    issuer.discovery = {"issuer": ISSUER}

    assert await cache.refresh() is False

    assert cache.kids == frozenset()


# --- freshness (Cache-Control) -----------------------------------------------------------------------


async def test_jwks_cache_within_max_age_does_not_refetch(
    cache: JwksCache, issuer: Issuer, clock: FakeClock, key_a: NewKey
) -> None:
    issuer.cache_control = "public, max-age=60"
    await cache.refresh()
    clock.advance(59)

    assert await cache.get_verification_key(key_a.kid) is not None
    await settle()

    assert issuer.jwks_fetches() == 1


async def test_jwks_cache_past_max_age_serves_cached_key_and_refetches_in_background(
    cache: JwksCache, issuer: Issuer, clock: FakeClock, key_a: NewKey
) -> None:
    issuer.cache_control = "public, max-age=60"
    await cache.refresh()
    clock.advance(61)

    assert await cache.get_verification_key(key_a.kid) is not None
    await settle()

    assert issuer.jwks_fetches() == 2


@pytest.mark.parametrize(
    ("cache_control", "fresh_for"),
    [
        ("max-age=0", MIN_TTL),
        ("no-store", DEFAULT_TTL),
        (None, DEFAULT_TTL),
        ("private, MAX-AGE=120", 120.0),
        ("max-age=999999999", 86400.0),
    ],
    ids=["below-min-clamped", "no-max-age", "no-header", "case-insensitive", "above-max-clamped"],
)
async def test_jwks_cache_freshness_follows_clamped_max_age(
    cache: JwksCache,
    issuer: Issuer,
    clock: FakeClock,
    key_a: NewKey,
    cache_control: str | None,
    fresh_for: float,
) -> None:
    issuer.cache_control = cache_control
    await cache.refresh()

    clock.advance(fresh_for - 1)
    await cache.get_verification_key(key_a.kid)
    await settle()
    assert issuer.jwks_fetches() == 1

    clock.advance(2)
    await cache.get_verification_key(key_a.kid)
    await settle()
    assert issuer.jwks_fetches() == 2


# --- unknown kid ----------------------------------------------------------------------------------


async def test_jwks_cache_unknown_kid_right_after_fetch_does_not_refetch(
    cache: JwksCache, issuer: Issuer, clock: FakeClock
) -> None:
    await cache.refresh()
    clock.advance(REFETCH_INTERVAL - 0.1)

    assert await cache.get_verification_key("forged-1") is None
    assert await cache.get_verification_key("forged-2") is None

    assert issuer.jwks_fetches() == 1


async def test_jwks_cache_unknown_kids_refetch_at_most_once_per_interval(
    cache: JwksCache, issuer: Issuer, clock: FakeClock
) -> None:
    await cache.refresh()

    for _ in range(3):
        clock.advance(REFETCH_INTERVAL)
        for n in range(25):
            assert await cache.get_verification_key(f"forged-{n}") is None

    assert issuer.jwks_fetches() == 1 + 3


async def test_jwks_cache_concurrent_unknown_kids_cause_a_single_refetch(
    cache: JwksCache, issuer: Issuer, clock: FakeClock
) -> None:
    await cache.refresh()
    clock.advance(REFETCH_INTERVAL)

    results = await asyncio.gather(*(cache.get_verification_key(f"forged-{n}") for n in range(50)))

    assert results == [None] * 50
    assert issuer.jwks_fetches() == 2


async def test_jwks_cache_unknown_kid_after_interval_finds_rotated_key(
    cache: JwksCache, issuer: Issuer, clock: FakeClock, key_a: NewKey, key_b: NewKey
) -> None:
    await cache.refresh()
    issuer.serve_keys([key_a.public_jwk, key_b.public_jwk])
    clock.advance(REFETCH_INTERVAL)

    found = await cache.get_verification_key(key_b.kid)

    assert found is not None
    assert cache.kids == {key_a.kid, key_b.kid}
    assert issuer.jwks_fetches() == 2


async def test_jwks_cache_unknown_kid_with_issuer_down_retries_after_interval(
    cache: JwksCache, issuer: Issuer, clock: FakeClock, key_a: NewKey
) -> None:
    issuer.error = httpx.ConnectError("issuer down")

    assert await cache.get_verification_key(key_a.kid) is None
    assert await cache.get_verification_key(key_a.kid) is None
    attempts = len(issuer.paths)
    issuer.error = None
    clock.advance(REFETCH_INTERVAL)

    assert await cache.get_verification_key(key_a.kid) is not None
    assert attempts == 1


# --- failures keep the last good set ---------------------------------------------------------------


def _hostile(issuer: Issuer, mode: str, key_b: NewKey) -> None:
    if mode == "http-500":
        issuer.jwks_status = 500
    elif mode == "timeout":
        issuer.error = httpx.ReadTimeout("slow issuer")
    elif mode == "connect-error":
        issuer.error = httpx.ConnectError("refused")
    elif mode == "invalid-json":
        issuer.jwks_body = b'{"keys": [ {"kty": '
    elif mode == "not-a-key-set":
        issuer.jwks_body = b'{"keys": {"kty": "RSA"}}'
    elif mode == "empty-set":
        issuer.serve_keys([])
    elif mode == "private-key":
        issuer.serve_keys([private_jwk(key_b)])
    elif mode == "hs-key":
        issuer.serve_keys([HS_KEY])
    elif mode == "too-large":
        padding = [{"kid": f"pad-{n}", "alg": "none"} for n in range(MAX_JWKS_BYTES // 20)]
        issuer.serve_keys([key_b.public_jwk, *padding])
    else:
        raise AssertionError(mode)


HOSTILE_MODES = [
    "http-500",
    "timeout",
    "connect-error",
    "invalid-json",
    "not-a-key-set",
    "empty-set",
    "private-key",
    "hs-key",
    "too-large",
]


@pytest.mark.parametrize("mode", HOSTILE_MODES)
async def test_jwks_cache_failed_refetch_keeps_cached_keys(
    cache: JwksCache, issuer: Issuer, clock: FakeClock, key_a: NewKey, key_b: NewKey, mode: str
) -> None:
    await cache.refresh()
    _hostile(issuer, mode, key_b)
    clock.advance(3600)

    assert await cache.refresh() is False

    assert cache.kids == {key_a.kid}
    assert await cache.get_verification_key(key_a.kid) is not None
    assert await cache.get_verification_key(key_b.kid) is None


@pytest.mark.parametrize("mode", HOSTILE_MODES)
async def test_jwks_cache_hostile_first_fetch_leaves_cache_empty(
    cache: JwksCache, issuer: Issuer, key_a: NewKey, key_b: NewKey, mode: str
) -> None:
    _hostile(issuer, mode, key_b)

    assert await cache.refresh() is False

    assert cache.kids == frozenset()
    assert await cache.get_verification_key(key_b.kid) is None


async def test_jwks_cache_fetches_with_the_configured_short_timeout(issuer: Issuer) -> None:
    seen: list[dict[str, Any]] = []
    original = issuer.__call__

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return original(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(recording))
    cache = JwksCache(http, issuer=ISSUER, timeout=1.5)
    try:
        await cache.refresh()
    finally:
        await cache.aclose()
        await http.aclose()

    assert seen and all(t == {"connect": 1.5, "read": 1.5, "write": 1.5, "pool": 1.5} for t in seen)


# --- what a key set may contain (RFC 7517, RFC 8725 §3.1) -------------------------------------------


async def test_jwks_cache_mixed_set_keeps_only_public_asymmetric_signing_keys(
    cache: JwksCache, issuer: Issuer, key_a: NewKey, key_b: NewKey
) -> None:
    issuer.serve_keys(
        [
            key_a.public_jwk,
            private_jwk(key_b),
            HS_KEY,
            {**key_a.public_jwk, "kid": "as-hmac", "alg": "HS256"},
            {**key_a.public_jwk, "kid": "for-encryption", "use": "enc"},
            {**key_a.public_jwk, "kid": "no-alg", "alg": None},
            {**key_a.public_jwk, "kid": "alg-none", "alg": "none"},
            {**key_a.public_jwk, "kid": 42},
            {"kid": "broken", "kty": "RSA", "alg": "RS256", "n": "!!", "e": "AQAB"},
        ]
    )

    assert await cache.refresh() is True

    assert cache.kids == {key_a.kid}
    assert await cache.get_verification_key(key_b.kid) is None
    assert await cache.get_verification_key("hmac") is None
    assert await cache.get_verification_key("as-hmac") is None
