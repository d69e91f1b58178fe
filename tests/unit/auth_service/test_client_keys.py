"""Rules for registered client keys and jwks_uri targets (RFC 7591 §2, RFC 7517 §5; the
security rules on fetched documents)."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from auth_service.clients import keys as client_keys
from auth_service.clients.keys import ClientKeyFetcher, jwks_problem, jwks_uri_problem
from auth_service.oauth.client_auth.base import ClientKeysUnavailable
from shared.models import Client


@pytest.mark.parametrize(
    ("url", "development", "problem"),
    [
        ("https://keys.example/jwks.json", False, None),
        ("http://127.0.0.1:9000/jwks.json", True, None),
        ("http://localhost/jwks.json", True, None),
        ("http://127.0.0.1:9000/jwks.json", False, "jwks_uri must use https"),
        ("http://keys.example/jwks.json", True, "jwks_uri must use https"),
        (
            "https://127.0.0.1/jwks.json",
            False,
            "jwks_uri must not point at a private or loopback address",
        ),
        (
            "https://10.0.0.7/jwks.json",
            False,
            "jwks_uri must not point at a private or loopback address",
        ),
        (
            "https://169.254.169.254/latest",
            False,
            "jwks_uri must not point at a private or loopback address",
        ),
        (
            "https://[::1]/jwks.json",
            False,
            "jwks_uri must not point at a private or loopback address",
        ),
        (
            "https://localhost/jwks.json",
            False,
            "jwks_uri must not point at a private or loopback address",
        ),
        ("https://keys.example/jwks.json#frag", True, "jwks_uri must be an absolute https URL"),
        ("https://[bad/jwks.json", True, "jwks_uri must be an absolute https URL"),
        ("https://keys.example:99999/jwks.json", False, "jwks_uri must be an absolute https URL"),
        ("https://keys.example:abc/jwks.json", False, "jwks_uri must be an absolute https URL"),
        ("ftp://keys.example/jwks.json", True, "jwks_uri must be an absolute https URL"),
        ("https://keys.example/" + "a" * 2000, True, "jwks_uri is too long or contains spaces"),
    ],
)
def test_jwks_uri_problem_allows_https_and_loopback_http_in_development_only(
    url: str, development: bool, problem: str | None
) -> None:
    assert jwks_uri_problem(url, development=development) == problem


@pytest.mark.parametrize(
    ("url", "only_default_port", "problem"),
    [
        ("https://keys.example/jwks.json", True, None),
        ("https://keys.example:443/jwks.json", True, None),
        ("https://keys.example:8443/jwks.json", False, None),
        (
            "https://keys.example:8443/jwks.json",
            True,
            "jwks_uri must not name a port other than 443",
        ),
        ("https://blocked.example/jwks.json", False, "jwks_uri host is not allowed"),
        ("https://a.blocked.example./jwks.json", False, "jwks_uri host is not allowed"),
        ("https://xn--a-.example/jwks.json", False, "jwks_uri host is not a valid name"),
    ],
)
def test_jwks_uri_problem_applies_denied_hosts_and_the_document_port_rule(
    url: str, only_default_port: bool, problem: str | None
) -> None:
    assert (
        jwks_uri_problem(
            url,
            development=False,
            deny_hosts=("blocked.example",),
            only_default_port=only_default_port,
        )
        == problem
    )


def test_jwks_problem_refuses_too_many_keys_and_oversized_sets() -> None:
    key = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwks_problem({"keys": [key]}) is None
    assert jwks_problem({"keys": [key] * 11}) == "jwks must hold 1-10 keys"
    padded = {"keys": [{**key, "x5c": ["A" * 17000]}]}
    assert jwks_problem(padded) == "jwks must be at most 16384 bytes"


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433/jwks",  # 127.0.0.1 as one number
        "https://127.1/jwks",
        "https://0x7f.0.0.1/jwks",
        "https://localhost/jwks",
        "https://[::ffff:127.0.0.1]/jwks",
    ],
)
async def test_jwks_uri_resolving_to_an_internal_address_is_refused_before_any_request(
    url: str,
) -> None:
    fetcher = ClientKeyFetcher(
        ttl=60, refetch_interval=60, timeout=1, max_bytes=1024, development=False
    )
    try:
        with pytest.raises(ClientKeysUnavailable, match="private or loopback|cannot resolve"):
            await fetcher._fetch(url)
        assert fetcher.fetch_count == 0
    finally:
        await fetcher.aclose()


KEY = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity, gzip"])
async def test_jwks_fetch_asks_for_identity_and_refuses_compressed_key_sets(encoding: str) -> None:
    """A few KiB of gzip can inflate past any limit before it is counted: RFC 9110 §12.5.3
    identity only, and a compressed answer is refused whatever it holds."""
    seen: list[str | None] = []
    body = json.dumps({"keys": [KEY]}).encode()
    compressed = zlib.compress(body) if "deflate" in encoding else gzip.compress(body)

    def client_server(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("accept-encoding"))
        return httpx.Response(200, content=compressed, headers={"content-encoding": encoding})

    http = httpx.AsyncClient(transport=httpx.MockTransport(client_server))
    fetcher = ClientKeyFetcher(
        ttl=60, refetch_interval=60, timeout=1, max_bytes=1024, development=True, http=http
    )
    try:
        with pytest.raises(ClientKeysUnavailable, match="the key set is served compressed"):
            await fetcher._fetch("http://127.0.0.1:9/jwks.json")
    finally:
        await fetcher.aclose()

    assert seen == ["identity"]


class _Body(httpx.AsyncByteStream):
    """A body httpx has not read yet (one given as `content` counts as consumed for aiter_raw)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._data


async def test_cached_key_sets_and_failures_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anyone can mint document clients, so per-client memory must stay bounded: past the
    limit the oldest key sets and failures are forgotten, and no lock outlives its fetch."""
    monkeypatch.setattr(client_keys, "MAX_CACHED_CLIENTS", 2)

    def client_server(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/broken":
            return httpx.Response(500)
        return httpx.Response(200, stream=_Body(json.dumps({"keys": [KEY]}).encode()))

    http = httpx.AsyncClient(transport=httpx.MockTransport(client_server))
    fetcher = ClientKeyFetcher(
        ttl=60, refetch_interval=60, timeout=1, max_bytes=1024, development=True, http=http
    )
    now = datetime.now(UTC)

    def client(n: int, path: str = "/jwks") -> Client:
        return Client(
            client_id=f"c{n}",
            name="",
            jwks_uri=f"http://127.0.0.1:9{path}",
            created_at=now,
            updated_at=now,
        )

    try:
        for n in range(3):
            assert await fetcher.jwks_for(client(n), None) == {"keys": [KEY]}
            with pytest.raises(ClientKeysUnavailable):
                await fetcher.jwks_for(client(n, "/broken"), None)
    finally:
        await fetcher.aclose()

    assert [key[0] for key in fetcher._cache] == ["c1", "c2"]
    assert [key[0] for key in fetcher._failed_until] == ["c1", "c2"]
    assert len(fetcher._locks) == 0


async def test_one_client_has_one_fetch_at_a_time_however_requests_queue() -> None:
    """Requests queued behind a slow, failing fetch must not start fetches of their own beside
    it: the lock of a client is kept while anyone still waits on it."""
    running, peak = 0, 0

    async def slow_failing_server(request: httpx.Request) -> httpx.Response:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return httpx.Response(500)

    http = httpx.AsyncClient(transport=httpx.MockTransport(slow_failing_server))
    fetcher = ClientKeyFetcher(
        ttl=60, refetch_interval=0, timeout=1, max_bytes=1024, development=True, http=http
    )
    now = datetime.now(UTC)
    client = Client(
        client_id="c", name="", jwks_uri="http://127.0.0.1:9/jwks", created_at=now, updated_at=now
    )

    async def attempt(delay: float) -> None:
        await asyncio.sleep(delay)
        with pytest.raises(ClientKeysUnavailable):
            await fetcher.jwks_for(client, None)

    try:
        await asyncio.gather(*(attempt(n * 0.005) for n in range(40)))
    finally:
        await fetcher.aclose()

    assert peak == 1
    assert len(fetcher._locks) == 0


async def test_requests_queued_behind_a_failed_refetch_keep_the_cached_set() -> None:
    """A stale set whose server is down is fetched once for the whole queue, not once per
    request in turn (each would wait out the timeout before the next)."""
    fetches = 0
    up = True
    clock_now = [0.0]

    async def client_server(request: httpx.Request) -> httpx.Response:
        nonlocal fetches
        fetches += 1
        await asyncio.sleep(0.01)
        if up:
            return httpx.Response(200, stream=_Body(json.dumps({"keys": [KEY]}).encode()))
        return httpx.Response(500)

    http = httpx.AsyncClient(transport=httpx.MockTransport(client_server))
    fetcher = ClientKeyFetcher(
        ttl=60,
        refetch_interval=30,
        timeout=1,
        max_bytes=1024,
        development=True,
        http=http,
        clock=lambda: clock_now[0],
    )
    now = datetime.now(UTC)
    client = Client(
        client_id="c", name="", jwks_uri="http://127.0.0.1:9/jwks", created_at=now, updated_at=now
    )
    try:
        assert await fetcher.jwks_for(client, None) == {"keys": [KEY]}
        up, clock_now[0] = False, 61.0  # stale, and the server is down
        sets = await asyncio.gather(*(fetcher.jwks_for(client, None) for _ in range(10)))
    finally:
        await fetcher.aclose()

    assert sets == [{"keys": [KEY]}] * 10  # the last good set, to every request
    assert fetches == 2
