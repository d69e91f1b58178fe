"""Outbound fetches dial only global addresses, checked on the address dialled (SSRF and DNS
rebinding; RFC 7591 §5). The name service is the one thing replaced: the tests decide what a
name resolves to, and the connections are real TCP to a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterable

import httpcore
import httpx
import pytest

from auth_service.clients.keys import ClientKeyFetcher
from auth_service.oauth.client_auth.base import ClientKeysUnavailable
from auth_service.security.egress import (
    RESOLVER_THREADS,
    GlobalOnlyBackend,
    GlobalOnlyTransport,
    InternalAddressError,
    Resolver,
    global_addresses,
    is_global_address,
    outbound_client,
    resolve,
    url_host,
)
from tests.support.jwks_server import jwks_server

PUBLIC = "93.184.216.34"


def answers(*addresses: str) -> Resolver:
    async def resolver(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolver


class Redirecting(httpcore.AsyncNetworkBackend):
    """Stands in for the internet: records the address it is asked to dial, dials 127.0.0.1."""

    def __init__(self) -> None:
        self.dialled: list[str] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append(host)
        return await self._real.connect_tcp("127.0.0.1", port, timeout)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (PUBLIC, True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("not-an-address", False),
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::5db8:d822", True),  # NAT64 of 93.184.216.34
        ("64:ff9b:1::a00:1", False),  # local-use NAT64
        ("2002:a00:1::", False),  # 6to4 of 10.0.0.1
        ("2002:5db8:d822::", True),  # 6to4 of 93.184.216.34
        ("::a00:1", False),  # IPv4-compatible
        ("::ffff:0:a00:1", False),  # IPv4-translated
        ("fec0::1", False),  # site-local
        ("ff0e::1", False),  # multicast
    ],
)
def test_only_public_internet_addresses_are_global(address: str, expected: bool) -> None:
    assert is_global_address(address) is expected


async def test_a_name_with_one_internal_answer_among_public_ones_is_refused() -> None:
    with pytest.raises(InternalAddressError):
        await global_addresses("keys.example", 443, answers(PUBLIC, "10.0.0.1"))
    with pytest.raises(InternalAddressError):
        await global_addresses("keys.example", 443, answers())
    assert await global_addresses("keys.example", 443, answers(PUBLIC)) == [PUBLIC]


async def test_the_connection_goes_to_the_checked_address_with_the_name_as_host() -> None:
    with jwks_server() as server:
        inner = Redirecting()
        transport = GlobalOnlyTransport(GlobalOnlyBackend(answers(PUBLIC), inner))
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get(f"http://keys.example:{server.port}/jwks.json")
        assert response.status_code == 200
        assert inner.dialled == [PUBLIC]  # the address checked, not a second lookup
        assert server.hits == 1


async def test_a_name_that_rebinds_to_loopback_after_the_check_is_never_dialled() -> None:
    """The first lookup (the fetcher's own check) says public; the one at connect time says
    127.0.0.1, where a real server listens. Nothing reaches it."""
    with jwks_server() as server:
        client = outbound_client(timeout=2, development=False, resolver=answers("127.0.0.1"))
        async with client:
            with pytest.raises(httpx.ConnectError, match="private or loopback"):
                await client.get(f"http://rebind.example:{server.port}/jwks.json")
        assert server.hits == 0


async def test_the_key_fetcher_in_production_refuses_loopback_even_past_its_url_check() -> None:
    """The fetcher's URL check is skipped here (the URL is given to the transport directly) to
    show that the transport alone stops the connection."""
    with jwks_server() as server:
        fetcher = ClientKeyFetcher(
            ttl=60, refetch_interval=60, timeout=2, max_bytes=4096, development=False
        )
        try:
            for http in fetcher._clients:  # registered clients' and document clients'
                with pytest.raises(httpx.ConnectError):
                    await http.get(server.url)
            with pytest.raises(ClientKeysUnavailable, match="private or loopback"):
                await fetcher._fetch(server.url.replace("http://", "https://"))
        finally:
            await fetcher.aclose()
        assert server.hits == 0


async def test_unix_sockets_are_refused() -> None:
    with pytest.raises(InternalAddressError):
        await GlobalOnlyBackend().connect_unix_socket("/tmp/anything.sock")  # noqa: S108


async def test_development_keeps_loopback_reachable() -> None:
    with jwks_server() as server:
        async with outbound_client(timeout=2, development=True) as client:
            response = await client.get(server.url)
        assert response.status_code == 200
        assert server.hits == 1


async def test_name_lookups_that_never_answer_hold_only_the_resolver_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client-chosen name whose DNS hangs keeps its thread after our timeout gives up; those
    threads are the resolver's own, so the loop's default executor stays free."""
    release = threading.Event()
    real_getaddrinfo = socket.getaddrinfo

    def hanging(host: str, *args: object, **kwargs: object) -> object:
        if host == "hangs.example":
            release.wait(10)
            raise socket.gaierror("gave up")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    loop = asyncio.get_running_loop()
    try:
        for _ in range(RESOLVER_THREADS * 2):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await resolve("hangs.example", 443)
        # The default executor still answers at once, and so does our own lookup queue's
        # turn for a good name once the hung lookups end.
        async with asyncio.timeout(2):
            assert await loop.run_in_executor(None, lambda: "free") == "free"
    finally:
        release.set()
    async with asyncio.timeout(10):
        assert "127.0.0.1" in await resolve("localhost", 443)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://App.Example./c.json", "app.example"),
        ("https://b\u00fccher.example/c.json", "xn--bcher-kva.example"),
        ("https://internal\u3002corp/c.json", "internal.corp"),
        ("https://[2606:4700:0::1]/c.json", "2606:4700::1"),
        ("https://[::ffff:1.2.3.4]/c.json", "1.2.3.4"),
        ("https://0x1020304/c.json", "1.2.3.4"),
        ("https://127.1/c.json", "127.0.0.1"),
        ("https://2130706433/c.json", "127.0.0.1"),
        ("https://[fe80::1%25eth0]/c.json", None),
        ("https://evil.co\\m/c.json", None),
        ("https://a_b.example/c.json", None),
        ("https://xn--a-.example/c.json", None),
    ],
)
def test_hosts_are_compared_in_the_one_form_that_is_dialled(url: str, host: str | None) -> None:
    """Deny lists and per-host counts see one spelling per host (RFC 1034 §3.1, IDNA, and the
    IPv4 forms inet_aton reads), and anything no resolver should be handed is refused."""
    assert url_host(url) == host
