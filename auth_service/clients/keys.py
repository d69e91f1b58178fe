"""Client public keys for `private_key_jwt` (RFC 7523 §2.2, RFC 7591 §2 `jwks` / `jwks_uri`).

Registered keys are checked here (a JWK Set of public signing keys, or an https URL, never
both). Keys behind a `jwks_uri` are fetched by one guarded fetcher: https only (http on
loopback in development), outside development no connection to a private, loopback or
link-local address (checked on the address dialled, auth_service.security.egress), no
redirects, one timeout over the whole fetch (name lookup included) and a size limit on the
uncompressed bytes read (security rules "fetched documents"); they are cached per client, and
an unknown `kid` refetches at most once per interval, so forged kids cannot make us hammer the
client's server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from auth_service.keyed_locks import KeyedLocks
from auth_service.lookup_cache import put_bounded
from auth_service.oauth.client_auth.base import ClientKeysUnavailable
from auth_service.security.egress import (
    IDENTITY_ONLY,
    InternalAddressError,
    Resolver,
    ThreadedResolver,
    global_addresses,
    host_is_denied,
    is_identity_encoding,
    outbound_client,
    read_limited,
    url_host,
)
from shared.models import Client
from shared.tokens import public_jwk_problem, strict_json

logger = logging.getLogger(__name__)

MAX_INLINE_JWKS_BYTES = 16 * 1024
MAX_KEYS = 10
MAX_CACHED_CLIENTS = 10_000
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def jwks_problem(jwks: object) -> str | None:
    """RFC 7517 §5: a JWK Set of at most MAX_KEYS public signing keys, of bounded size."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        return "jwks must be a JWK Set: an object with a keys array"
    if not 0 < len(jwks["keys"]) <= MAX_KEYS:
        return f"jwks must hold 1-{MAX_KEYS} keys"
    if len(json.dumps(jwks)) > MAX_INLINE_JWKS_BYTES:
        return f"jwks must be at most {MAX_INLINE_JWKS_BYTES} bytes"
    for key in jwks["keys"]:
        problem = public_jwk_problem(key)
        if problem is not None:
            return problem
    return None


def jwks_uri_problem(
    url: str,
    *,
    development: bool,
    deny_hosts: tuple[str, ...] = (),
    only_default_port: bool = False,
) -> str | None:
    """An absolute https URL without credentials; http only for loopback in development. Hosts
    the operator denies (AUTH_CLIENT_METADATA_DENY_HOSTS, with subdomains) are never fetched;
    `only_default_port` (a document client's keys, outside development) takes 443 only, the
    rule its client_id URL follows (draft-ietf-oauth-client-id-metadata-document §6.5)."""
    if len(url) > 2000 or any(ch.isspace() for ch in url):
        return "jwks_uri is too long or contains spaces"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port  # ValueError for a port out of range or not a number
    except ValueError:
        return "jwks_uri must be an absolute https URL"
    if parts.scheme not in ("https", "http") or not host or "@" in parts.netloc or parts.fragment:
        return "jwks_uri must be an absolute https URL"
    dialled = url_host(url)  # the ASCII form httpx dials: what the deny list is compared with
    if dialled is None:
        return "jwks_uri host is not a valid name"
    if host_is_denied(dialled, deny_hosts):
        return "jwks_uri host is not allowed"
    if only_default_port and not development and port not in (None, 443):
        return "jwks_uri must not name a port other than 443"
    if parts.scheme == "http" and not (development and host in LOOPBACK_HOSTS):
        return "jwks_uri must use https"
    if not development and _is_internal_address(host):
        return "jwks_uri must not point at a private or loopback address"
    return None


def _is_internal_address(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")
    return not address.is_global


@dataclass(slots=True)
class _Cached:
    jwks: dict[str, Any]
    fresh_until: float
    retry_at: float  # no fetch before this (after a refetch for an unknown kid or a failure)


class ClientKeyFetcher:
    """One per process (app state): the httpx client it owns and the per-client cache."""

    def __init__(
        self,
        *,
        ttl: float,
        refetch_interval: float,
        timeout: float,
        max_bytes: int,
        development: bool,
        deny_hosts: tuple[str, ...] = (),
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # No redirects (one could lead past the URL check), and only global addresses dialled.
        # Resolver threads of their own (egress.py), and apart for document clients, whose
        # jwks_uri anyone chooses: names that never answer there cannot stall registered ones.
        self._resolvers = (ThreadedResolver("jwks-dns"), ThreadedResolver("jwks-doc-dns"))
        self._clients = tuple(
            http or outbound_client(timeout=timeout, development=development, resolver=resolver)
            for resolver in self._resolvers
        )
        self._ttl, self._refetch_interval = ttl, refetch_interval
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._development, self._deny_hosts = development, deny_hosts
        self._clock = clock
        # Bounded: document clients (any URL is one) could otherwise grow them without end.
        self._cache: OrderedDict[tuple[str, str], _Cached] = OrderedDict()
        self._locks: KeyedLocks[tuple[str, str]] = KeyedLocks()
        self._failed_until: OrderedDict[tuple[str, str], float] = OrderedDict()
        self.fetch_count = 0

    async def jwks_for(self, client: Client, kid: str | None) -> Mapping[str, Any]:
        """The client's key set; for a `jwks_uri`, one refetch when `kid` is not in the cache."""
        if client.jwks is not None:
            return client.jwks
        if client.jwks_uri is None:
            raise ClientKeysUnavailable("the client registered no keys")
        key = (client.client_id, client.jwks_uri)
        cached = self._cache.get(key)
        now = self._clock()
        known = cached is not None and _has_kid(cached.jwks, kid)
        if cached is not None and ((known and now < cached.fresh_until) or now < cached.retry_at):
            # Fresh, or (an unknown kid, or stale) but we asked the client's server just now.
            self._cache.move_to_end(key)  # least recently used goes first, not oldest written
            return cached.jwks
        if cached is None and now < self._failed_until.get(key, 0.0):
            # A dead or broken jwks_uri is not asked again on every request of the interval.
            raise ClientKeysUnavailable("the key set could not be fetched a moment ago")
        async with self._locks.hold(key):
            return await self._refresh(client, client.jwks_uri, cached, known)

    async def _refresh(
        self, client: Client, url: str, cached: _Cached | None, known: bool
    ) -> Mapping[str, Any]:
        """Under the client's lock: the set another request just fetched, or a fetch."""
        key = (client.client_id, url)
        again = self._cache.get(key)
        if again is not None and again is not cached:
            return again.jwks  # another request refetched while we waited
        if again is not None and self._clock() < again.retry_at:
            return again.jwks  # the request before us in the queue just asked, and failed
        if again is None and self._clock() < self._failed_until.get(key, 0.0):
            # The request before us in the queue just failed: not asked again at once.
            raise ClientKeysUnavailable("the key set could not be fetched a moment ago")
        try:
            jwks = await self._fetch(url, client.from_metadata_document)
        except ClientKeysUnavailable:
            if cached is not None:
                cached.retry_at = self._clock() + self._refetch_interval
                return cached.jwks  # keep the last good set while the server is down
            put_bounded(
                self._failed_until, key, self._clock() + self._refetch_interval, MAX_CACHED_CLIENTS
            )
            raise
        now = self._clock()
        # A refetch for an unknown kid holds off the next one for the interval.
        retry_at = now + self._refetch_interval if cached is not None and not known else 0.0
        put_bounded(self._cache, key, _Cached(jwks, now + self._ttl, retry_at), MAX_CACHED_CLIENTS)
        self._failed_until.pop(key, None)
        return jwks

    async def aclose(self) -> None:
        for http, resolver in zip(self._clients, self._resolvers, strict=True):
            await http.aclose()
            resolver.close()

    async def _fetch(self, url: str, from_document: bool = False) -> dict[str, Any]:
        problem = jwks_uri_problem(
            url,
            development=self._development,
            deny_hosts=self._deny_hosts,
            only_default_port=from_document,
        )
        if problem is not None:
            raise ClientKeysUnavailable(problem)
        accept = {"Accept": "application/jwk-set+json, application/json", **IDENTITY_ONLY}
        try:
            # httpx's timeout bounds each read; this bounds the whole fetch, the name lookup
            # included (a slow resolver, or a server sending a byte a second, would otherwise
            # hold it, and the request's database session, for hours).
            async with asyncio.timeout(self._timeout * 2):
                if not self._development:
                    await _refuse_internal_resolution(url, self._resolvers[from_document])
                self.fetch_count += 1
                http = self._clients[from_document]
                async with http.stream("GET", url, headers=accept) as response:
                    if response.status_code != 200:
                        raise ClientKeysUnavailable(f"HTTP {response.status_code}")
                    if not is_identity_encoding(response.headers):
                        raise ClientKeysUnavailable("the key set is served compressed")
                    too_large = ClientKeysUnavailable("the key set is too large")
                    body = await read_limited(response, self._max_bytes, too_large)
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError, TimeoutError) as exc:
            logger.warning("client jwks fetch failed: %s", type(exc).__name__)
            raise ClientKeysUnavailable("the key set could not be fetched") from None
        try:
            jwks = strict_json(body)
        except ValueError:
            raise ClientKeysUnavailable("the key set is not JSON") from None
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise ClientKeysUnavailable("the document is not a JWK Set")
        return jwks


async def _refuse_internal_resolution(url: str, resolver: Resolver) -> None:
    """Every address the host resolves to must be global: "https://2130706433/", "127.1" and a
    DNS name pointing inside would otherwise pass the literal check (SSRF; RFC 7591 section 5
    warns of jwks_uri fetches). This check gives the clear error; the fetch itself dials only
    global addresses it resolved itself (auth_service.security.egress), which also stops a name
    that changes its answer in between (DNS rebinding)."""
    parts = urlsplit(url)
    try:
        # The name as httpx dials it (IDNA 2008), not as urlsplit leaves it.
        await global_addresses(url_host(url) or "", parts.port or 443, resolver)
    except InternalAddressError:
        raise ClientKeysUnavailable("jwks_uri resolves to a private or loopback address") from None
    except httpcore.ConnectError:
        raise ClientKeysUnavailable("cannot resolve the jwks_uri host") from None


def _has_kid(jwks: Mapping[str, Any], kid: str | None) -> bool:
    if kid is None:
        return True
    keys = jwks.get("keys")
    return isinstance(keys, list) and any(isinstance(k, dict) and k.get("kid") == kid for k in keys)
