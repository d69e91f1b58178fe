"""Fetching Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-00): the
rules for a client_id that is a URL, and the guarded, cached fetch of the JSON document there.

Anyone can make us fetch such a URL by sending it as a client_id, so the fetch is the security
rules' one guarded fetcher (auth_service.security.egress): outside development only https on
port 443 and only global addresses (checked on the address dialled), hosts an operator denies
refused, no redirects, one timeout over the whole fetch (name resolution included), a small
size limit on the bytes read, no compressed answers (§6.5 SSRF, §6.6 maximum response size).
Documents are kept in process memory as their HTTP cache headers say, between a floor and a
ceiling (§4.4); a failure is remembered for a short while, so a broken URL is not fetched again
on every request, and fetches are throttled per client address and per target host by the
caller (`before_fetch`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpcore
import httpx

from auth_service.keyed_locks import KeyedLocks
from auth_service.lookup_cache import put_bounded
from auth_service.security.egress import (
    IDENTITY_ONLY,
    InternalAddressError,
    Resolver,
    global_addresses,
    host_is_denied,
    is_identity_encoding,
    outbound_client,
    read_limited,
    resolve,
    url_host,
)
from shared.models import Client
from shared.models.types import CLIENT_ID_MAX_LENGTH
from shared.tokens import strict_json

if TYPE_CHECKING:
    from auth_service.repositories import Repositories

logger = logging.getLogger(__name__)

MAX_CACHED_DOCUMENTS = 10_000
# application/json, or a more specific application/<something>+json (§4.1).
_JSON_MEDIA_TYPE = re.compile(r"application/([a-z0-9.!#$&^_-]+\+)?json", re.IGNORECASE)


# RFC 9111 §1.2.2: delta-seconds = 1*DIGIT, ASCII digits only (int() also takes "+5", "5_0"
# and other scripts' digits).
_DELTA_SECONDS = re.compile(r"[0-9]+")


class MetadataDocumentError(Exception):
    """The client_id URL or its document cannot be used; the message is safe to show (ASCII)."""


def looks_like_document_url(client_id: str) -> bool:
    """A client_id we would resolve by fetching it: our own ids never contain a colon."""
    return client_id.startswith(("https://", "http://"))


def honoured(client: Client | None, *, enabled: bool) -> Client | None:
    """`client`, unless it is a document's copy while documents are off: the row is no
    registration, only a cache of what the URL said, so with the feature disabled (or turned
    off since) that client_id is unknown, as it would be had it never been fetched."""
    if client is not None and client.from_metadata_document and not enabled:
        return None
    return client


async def document_client_unknown(repos: Repositories, client_id: str, *, enabled: bool) -> bool:
    """Whether the client of a token is unknown because it came from a metadata document and
    documents are off (`honoured`), or its row is gone. Costs a query only for a URL client_id
    while documents are off; every other token costs nothing here."""
    if enabled or not looks_like_document_url(client_id):
        return False
    stored = await repos.clients.get_by_client_id(client_id)
    return stored is None or honoured(stored, enabled=False) is None


def client_id_url_problem(
    url: str, *, development: bool, deny_hosts: tuple[str, ...] = ()
) -> str | None:
    """§3: an https URL with a path, no fragment, no user name or password, no dot segments;
    §3 says it SHOULD NOT have a query, and we refuse one. §3 allows a port; outside
    development we take only 443 (§6.5 SSRF: another port reaches other services of a host).
    Development also takes http and any port (README "Client ID Metadata Documents"), so a
    laptop can serve a document from 127.0.0.1. At most CLIENT_ID_MAX_LENGTH characters, so it
    fits every client_id column; hosts in `deny_hosts` (and their subdomains) are refused."""
    if len(url) > CLIENT_ID_MAX_LENGTH:
        return f"the client_id URL is longer than {CLIENT_ID_MAX_LENGTH} characters"
    if not url.isascii() or not url.isprintable() or " " in url:
        return "the client_id URL must be printable ASCII without spaces"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port  # ValueError for a port out of range or not a number
    except ValueError:
        return "the client_id URL is malformed"
    schemes = ("https", "http") if development else ("https",)
    if parts.scheme not in schemes or not host:
        return "the client_id URL must be an absolute https URL"
    if "#" in url:
        return "the client_id URL must not contain a fragment"
    if "?" in url:
        return "the client_id URL must not contain a query"
    if "@" in parts.netloc:
        return "the client_id URL must not contain a user name or password"
    if not development and port not in (None, 443):
        return "the client_id URL must not name a port other than 443"
    dialled = url_host(url)
    if dialled is None:
        return "the client_id URL host is not a valid name"
    if parts.path in ("", "/"):
        return "the client_id URL must contain a path"
    # RFC 3986 §2.3: %2E is a dot too, and a server may decode it before resolving the path.
    if any(s.lower().replace("%2e", ".") in (".", "..") for s in parts.path.split("/")):
        return "the client_id URL must not contain dot segments"
    if host_is_denied(dialled, deny_hosts):
        return "the client_id URL host is not allowed"
    return None


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How long a document is kept: `floor` and `ceiling` bound what its headers ask (§4.4)."""

    floor: timedelta
    ceiling: timedelta

    def lifetime(self, headers: httpx.Headers, now: datetime) -> timedelta:
        """RFC 9111 §5.2.2 / §5.3: no-store and no-cache keep it only for the floor, max-age
        wins over Expires; with neither, the floor."""
        directives = {
            part.strip().lower().split("=", 1)[0]: part.strip().split("=", 1)[-1].strip('"')
            for part in headers.get("cache-control", "").split(",")
            if part.strip()
        }
        asked: timedelta | None = None
        if "no-store" in directives or "no-cache" in directives:
            asked = timedelta()
        elif "max-age" in directives:
            value = directives["max-age"]
            if not _DELTA_SECONDS.fullmatch(value):
                asked = timedelta()  # RFC 9111 §4.2.1: an invalid max-age means stale
            elif len(value.lstrip("0")) > 12:
                # RFC 9111 §1.2.2: a delta-seconds too large to hold is the largest we take.
                asked = self.ceiling
            else:
                asked = timedelta(seconds=min(int(value), self.ceiling.total_seconds()))
        elif "expires" in headers:
            try:
                asked = parsedate_to_datetime(headers["expires"]) - now
            except (TypeError, ValueError, OverflowError):
                asked = timedelta()  # RFC 9111 §5.3: an invalid date means already expired
        if asked is None:
            return self.floor
        return min(max(asked, self.floor), self.ceiling)


@dataclass(frozen=True, slots=True)
class FetchedDocument:
    """A document and when this instance fetched it (the clock of the app)."""

    document: dict[str, Any]
    fetched_at: datetime


@dataclass(slots=True)
class _Cached:
    """A fetched document, or (`fetched` None) a failure and the safe message it raised."""

    fetched: FetchedDocument | None
    fresh_until: datetime
    failure: str = ""


# Called just before a fetch goes out (never for an answer from the cache): the throttles.
BeforeFetch = Callable[[str], Awaitable[None]]


class MetadataDocumentFetcher:
    """One per process (app state): the outbound httpx client and the documents it fetched."""

    def __init__(
        self,
        *,
        timeout: float,
        max_bytes: int,
        cache: CachePolicy,
        development: bool,
        clock: Callable[[], datetime],
        failure_ttl: timedelta = timedelta(seconds=30),
        deny_hosts: tuple[str, ...] = (),
        http: httpx.AsyncClient | None = None,
        resolver: Resolver = resolve,
    ) -> None:
        self._http = http or outbound_client(
            timeout=timeout, development=development, resolver=resolver
        )
        self._timeout, self._max_bytes = timeout, max_bytes
        self._policy, self._development, self._clock = cache, development, clock
        self._failure_ttl, self._deny_hosts, self._resolver = failure_ttl, deny_hosts, resolver
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._locks: KeyedLocks[str] = KeyedLocks()
        self.fetch_count = 0

    def url_problem(self, url: str) -> str | None:
        """Why `url` cannot be a client_id here (§3 and this server's own rules), or None."""
        return client_id_url_problem(
            url, development=self._development, deny_hosts=self._deny_hosts
        )

    async def document(self, url: str, before_fetch: BeforeFetch | None = None) -> FetchedDocument:
        """The document at `url`, from the cache while it is fresh; a failure within
        `failure_ttl` of the last one raises again without a fetch. `before_fetch(url)` runs
        just before a fetch goes out and may raise to refuse it."""
        cached = self._fresh(url)
        if cached is not None:
            return cached
        # Requests for one URL at the same moment share a single fetch.
        async with self._locks.hold(url):
            cached = self._fresh(url)
            if cached is not None:
                return cached
            if before_fetch is not None:
                await before_fetch(url)
            try:
                document, lifetime = await self._fetch(url)
            except MetadataDocumentError as error:
                self.fail(url, error)
                raise
            now = self._clock()
            fetched = FetchedDocument(document, now)
            self._store(url, _Cached(fetched, now + lifetime))
            return fetched

    def _fresh(self, url: str) -> FetchedDocument | None:
        """The cached document while it is fresh; raises while a remembered failure is."""
        cached = self._cache.get(url)
        if cached is None or self._clock() >= cached.fresh_until:
            return None
        if cached.fetched is None:
            raise MetadataDocumentError(cached.failure)
        return cached.fetched

    def fail(self, url: str, error: MetadataDocumentError) -> None:
        """Remember that `url` failed (no answer, or a document we refused) for `failure_ttl`,
        in place of any copy: a document found invalid is not fetched again on every request."""
        if self._failure_ttl <= timedelta():
            self._cache.pop(url, None)
            return
        self._store(url, _Cached(None, self._clock() + self._failure_ttl, str(error)))

    def _store(self, url: str, entry: _Cached) -> None:
        put_bounded(self._cache, url, entry, MAX_CACHED_DOCUMENTS)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _fetch(self, url: str) -> tuple[dict[str, Any], timedelta]:
        problem = self.url_problem(url)
        if problem is not None:
            raise MetadataDocumentError(problem)
        try:
            # httpx's timeout bounds each step; this bounds the whole fetch (a byte a second),
            # the name lookup included: a slow resolver must not hold the request either.
            async with asyncio.timeout(self._timeout):
                if not self._development:
                    await _refuse_internal_resolution(url, self._resolver)
                self.fetch_count += 1
                headers = {"Accept": "application/json", **IDENTITY_ONLY}
                async with self._http.stream("GET", url, headers=headers) as response:
                    body = await self._read(response)
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError, TimeoutError) as exc:
            logger.warning("client metadata document fetch failed: %s", type(exc).__name__)
            raise MetadataDocumentError(
                "the client metadata document could not be fetched"
            ) from None
        try:
            document = strict_json(body)
        except (ValueError, UnicodeDecodeError):
            raise MetadataDocumentError("the client metadata document is not JSON") from None
        if not isinstance(document, dict):
            raise MetadataDocumentError("the client metadata document is not a JSON object")
        return document, self._policy.lifetime(response.headers, self._clock())

    async def _read(self, response: httpx.Response) -> bytes:
        # §4: a 200 answer only; a redirect is not followed (it could lead anywhere).
        if response.is_redirect:
            raise MetadataDocumentError("the client metadata document URL redirects")
        if response.status_code != 200:
            raise MetadataDocumentError(
                f"the client metadata document answered HTTP {response.status_code}"
            )
        media_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
        if not _JSON_MEDIA_TYPE.fullmatch(media_type):
            raise MetadataDocumentError("the client metadata document is not served as JSON")
        if not is_identity_encoding(response.headers):
            raise MetadataDocumentError("the client metadata document is served compressed")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise MetadataDocumentError("the client metadata document is too large")
        too_large = MetadataDocumentError("the client metadata document is too large")
        return await read_limited(response, self._max_bytes, too_large)


async def _refuse_internal_resolution(url: str, resolver: Resolver) -> None:
    """A clear error for a host that resolves inside; the fetch itself dials only the global
    addresses it resolved (egress.py), which also stops a name that changes its answer."""
    parts = urlsplit(url)
    try:
        # The name as httpx dials it (IDNA 2008), not as urlsplit leaves it.
        await global_addresses(url_host(url) or "", parts.port or 443, resolver)
    except InternalAddressError:
        raise MetadataDocumentError(
            "the client_id URL resolves to a private or loopback address"
        ) from None
    except httpcore.ConnectError:
        raise MetadataDocumentError("the client_id URL host cannot be resolved") from None
