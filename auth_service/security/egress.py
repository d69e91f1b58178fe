"""Outbound HTTP to addresses a client chose (a `jwks_uri` today; metadata documents and upstream
providers later): every connection goes to a global address, checked on the address actually
dialled, not on an earlier lookup.

Checking a name before the request and letting the HTTP library resolve it again leaves a gap:
a name that answers with a public address first and a private one a moment later (DNS
rebinding) reaches the inside (RFC 7591 §5 warns of fetches to client-chosen URLs; OWASP SSRF
prevention). Here the name is resolved once per connection, every answer must be global, and
the socket is opened to one of those very addresses. TLS still verifies the certificate for the
name in the URL: httpcore takes the server name from the request, not from the dialled address.
Bodies are asked for and read uncompressed, their size counted on the bytes read.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import httpcore
import httpx

Resolver = Callable[[str, int], Awaitable[list[str]]]


class InternalAddressError(httpcore.ConnectError):
    """The name resolves to a private, loopback, link-local or otherwise non-global address.

    A ConnectError, so httpx reports it as `httpx.ConnectError` like any refused connection."""


# getaddrinfo blocks a thread until the system resolver gives up, and a timeout around the
# await does not free that thread. Names a client chose (one whose DNS never answers, say) get
# threads of their own, so they cannot take every thread of the loop's default executor, which
# the rest of the service's outbound connections use.
RESOLVER_THREADS = 4


class ThreadedResolver:
    """A resolver with threads of its own. Each fetcher gets one, so names that hang for one
    kind of fetch (anyone's metadata document) do not stall another (a registered client's
    jwks_uri). `close` lets its idle threads go without waiting for a hung lookup."""

    def __init__(self, name: str, threads: int = RESOLVER_THREADS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    async def __call__(self, host: str, port: int) -> list[str]:
        """Every address `host` resolves to, in the resolver's order."""
        lookup = functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            infos = await asyncio.get_running_loop().run_in_executor(self._pool, lookup)
        except (OSError, UnicodeError, RuntimeError) as exc:  # RuntimeError: closed
            raise httpcore.ConnectError(f"cannot resolve the host ({type(exc).__name__})") from None
        return [str(info[4][0]) for info in infos]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# The metadata document fetcher's (and any caller's that names no other).
resolve: Resolver = ThreadedResolver("egress-dns")


# IPv6 ranges that carry or stand for IPv4 addresses, or that `ipaddress` has called global in
# some CPython releases though they never are on the public internet: refused outright.
_NEVER_GLOBAL = tuple(
    ipaddress.ip_network(net)
    for net in (
        "::/96",  # IPv4-compatible (RFC 4291 §2.5.5.1, deprecated)
        "::ffff:0:0:0/96",  # IPv4-translated (RFC 2765)
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215): reaches whatever the site maps
        "fec0::/10",  # site-local (RFC 3879, deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits


def is_global_address(address: str) -> bool:
    """True for an address on the public internet. An IPv6 address that carries an IPv4 one
    (IPv4-mapped, 6to4, NAT64) counts as the IPv4 address it carries: through a NAT64 gateway
    `64:ff9b::a00:1` is 10.0.0.1. A scoped IPv6 address (fe80::1%eth0) never passes."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address):
        if any(parsed in net for net in _NEVER_GLOBAL):
            return False
        embedded = parsed.ipv4_mapped or parsed.sixtofour
        if parsed in _NAT64:
            embedded = ipaddress.IPv4Address(int(parsed) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded.is_global
    return parsed.is_global


async def global_addresses(host: str, port: int, resolver: Resolver = resolve) -> list[str]:
    """The addresses of `host`, all of them global, or InternalAddressError: one inside answer
    refuses the name, since a later connection might be given that one."""
    addresses = await resolver(host, port)
    if not addresses or not all(is_global_address(a) for a in addresses):
        raise InternalAddressError("the host resolves to a private or loopback address")
    return addresses


class GlobalOnlyBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that dials only global addresses, resolved by itself."""

    def __init__(
        self, resolver: Resolver = resolve, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._resolver = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in await global_addresses(host, port, self._resolver):
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:  # try the next one
                failure = exc
        assert failure is not None  # noqa: S101 - global_addresses never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise InternalAddressError("unix sockets are not reachable from outbound fetches")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GlobalOnlyTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, its connection pool built on GlobalOnlyBackend. No proxy and no
    environment settings: a proxy from the environment would dial for us, unchecked."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend | None = None) -> None:
        super().__init__(trust_env=False)
        # httpx 0.28 offers no network_backend argument; the pool it built is replaced by the
        # same pool on our backend (tests/unit/auth_service/test_egress.py pins the behaviour).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=backend or GlobalOnlyBackend(),
        )


def outbound_client(
    *, timeout: float, development: bool, resolver: Resolver = resolve
) -> httpx.AsyncClient:
    """The client for fetches to client-chosen URLs: no redirects (one could lead anywhere), no
    environment proxies, and in production only global addresses. Development allows loopback,
    so a laptop can serve a jwks_uri from 127.0.0.1."""
    transport = None if development else GlobalOnlyTransport(GlobalOnlyBackend(resolver))
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        transport=transport,
    )


def host_is_denied(host: str, deny_hosts: tuple[str, ...]) -> bool:
    """`host` is one of `deny_hosts` or a subdomain of one (compared label by label)."""
    host = host.lower().rstrip(".")
    return any(host == denied or host.endswith("." + denied) for denied in deny_hosts)


def parse_deny_hosts(value: str) -> tuple[str, ...]:
    """AUTH_CLIENT_METADATA_DENY_HOSTS (client metadata documents and jwks_uri fetches):
    comma-separated names; "*.x" and ".x" mean x. A Unicode name is kept in its ASCII form,
    the one url_host gives, so `bücher.example` also denies `xn--bcher-kva.example`."""
    names = []
    for item in value.split(","):
        name = item.strip().lower().removeprefix("*").strip(".")
        if name:
            literal = _canonical_address(name.strip("[]"))
            names.append(literal or url_host(f"https://{name}/") or name)
    return tuple(names)


def _canonical_address(host: str) -> str | None:
    """One spelling per address, as it is dialled: `[0::1]` is `::1`, `[::ffff:1.2.3.4]` is
    1.2.3.4, and the forms a resolver reads as IPv4 (`127.1`, `0x7f.1`, `2130706433`, inet_aton;
    the WHATWG URL standard parses them the same way) are dotted quads. None for a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        last = host.rsplit(".", 1)[-1]
        if not (last.isdigit() or last.startswith("0x")):
            return None
        try:
            address = ipaddress.ip_address(socket.inet_aton(host))
        except (OSError, ValueError):
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.compressed


# RFC 1123 §2.1 / RFC 5890 §2.3.1: letters, digits and inner hyphens, 1-63 per label.
_LDH_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def url_host(url: str) -> str | None:
    """The host of `url` in the ASCII form we would dial (IDNA A-labels, lower case, no
    trailing dot), or None when it is neither a valid name nor an IP literal. Everything that
    compares hosts (denied hosts, throttle keys) uses this form: `internal。corp` (an ideographic
    full stop) is `internal.corp` once httpx applies IDNA, and a resolver reads `evil.co\\m` as
    `evil.com`, so such spellings must not pass as other names (RFC 1034 §3.1). An A-label that
    is not valid punycode (RFC 5891 §5.4, `xn--a-`) makes httpx raise a UnicodeError at request
    time; it is refused here instead."""
    try:
        parsed = httpx.URL(url)
        raw = parsed.raw_host.decode("ascii")
        _ = parsed.host  # decodes the A-labels: UnicodeError for invalid punycode
    except (httpx.InvalidURL, UnicodeError, ValueError):
        return None
    host = raw.lower().removesuffix(".")
    if "%" in host:
        return None  # an IPv6 zone id (RFC 6874) names an interface of ours, never a client
    literal = _canonical_address(host.strip("[]"))
    if literal is not None:
        return literal
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_LDH_LABEL.fullmatch(label) for label in labels):
        return None
    return host


# RFC 9110 §12.5.3: ask for the body as it is. A few KiB of gzip inflate to gigabytes, and httpx
# inflates each chunk whole before a size limit could see it (decompression bomb).
IDENTITY_ONLY = {"Accept-Encoding": "identity"}


def is_identity_encoding(headers: httpx.Headers) -> bool:
    """RFC 9110 §8.4: no Content-Encoding, or only `identity`; anything else is refused."""
    codings = [coding.strip().lower() for coding in headers.get("content-encoding", "").split(",")]
    return all(coding in ("", "identity") for coding in codings)


async def read_limited(response: httpx.Response, max_bytes: int, too_large: Exception) -> bytes:
    """The body as received (`aiter_raw`: nothing is decoded), raising `too_large` as soon as
    more than `max_bytes` were read, so the limit counts the bytes actually taken in."""
    body = bytearray()
    async for chunk in response.aiter_raw():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise too_large
    return bytes(body)
