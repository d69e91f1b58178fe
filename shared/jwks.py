"""JWK sets (RFC 7517) and the resource side's cache of the issuer's keys.

The cache follows the architecture guide: keys come from the `jwks_uri` of the issuer's discovery
document (or a configured URL), live as long as Cache-Control says (clamped), an unknown `kid`
triggers at most one refetch per interval, and a failed fetch never drops the keys we have.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from shared.tokens import SUPPORTED_ALGORITHMS, JoseKey, load_public_jwk

logger = logging.getLogger(__name__)

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
MAX_JWKS_BYTES = 256 * 1024


class JwkSet(BaseModel):
    model_config = ConfigDict(extra="allow")

    keys: list[dict[str, Any]]


class JwksFetchError(Exception):
    pass


def parse_max_age(cache_control: str | None) -> int | None:
    match = _MAX_AGE.search(cache_control or "")
    return int(match.group(1)) if match else None


def usable_keys(jwks: JwkSet, algorithms: tuple[str, ...]) -> dict[str, tuple[str, JoseKey]]:
    """kid -> (alg, key) for the signing keys we can use; anything else in the set is skipped."""
    keys: dict[str, tuple[str, JoseKey]] = {}
    for data in jwks.keys:
        kid, alg = data.get("kid"), data.get("alg")
        if not isinstance(kid, str) or alg not in algorithms or data.get("use", "sig") != "sig":
            continue
        if any(name in data for name in ("d", "p", "q", "k")):
            continue  # never accept private or symmetric key material from the network
        try:
            keys[kid] = (alg, load_public_jwk(data, alg))
        except Exception:  # noqa: BLE001 - one bad key must not spoil the set
            logger.warning("jwks: skipping unusable key kid=%s", kid)
    return keys


class JwksCache:
    """In-memory cache of the issuer's verification keys, shared by every request of a process."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        issuer: str,
        jwks_url: str | None = None,
        discovery_url: str | None = None,
        default_ttl: float = 300.0,
        min_ttl: float = 10.0,
        max_ttl: float = 86400.0,
        refetch_interval: float = 10.0,
        timeout: float = 2.0,
        algorithms: tuple[str, ...] = SUPPORTED_ALGORITHMS,
        clock: Callable[[], float] = time.monotonic,
        on_refresh: Callable[[bool], None] | None = None,
    ) -> None:
        self._http = http
        self._on_refresh = on_refresh  # told of each fetch's outcome (a metric)
        self._issuer = issuer
        self._jwks_url = jwks_url
        self._discovery_url = (
            discovery_url or issuer.rstrip("/") + "/.well-known/openid-configuration"
        )
        self._default_ttl, self._min_ttl, self._max_ttl = default_ttl, min_ttl, max_ttl
        self._refetch_interval = refetch_interval
        self._timeout = timeout
        self._algorithms = algorithms
        self._clock = clock
        self._keys: dict[str, tuple[str, JoseKey]] = {}
        self._fresh_until = 0.0
        self._next_attempt_at = 0.0
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        self.fetch_count = 0

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    async def get_verification_key(self, kid: str) -> tuple[str, JoseKey] | None:
        now = self._clock()
        found = self._keys.get(kid)
        if found is not None:
            if now >= self._fresh_until and now >= self._next_attempt_at:
                self._refresh_in_background()
            return found
        # Unknown kid: perhaps a freshly rotated key. Ask again, but at most once per interval,
        # so a stream of forged kids cannot turn us into a load generator against the issuer.
        if now >= self._next_attempt_at:
            await self.refresh()
        return self._keys.get(kid)

    async def refresh(self) -> bool:
        """Fetch the key set now; on failure keep what we have. Returns whether it succeeded."""
        async with self._lock:
            now = self._clock()
            if now < self._next_attempt_at:
                return False  # someone else just tried while we waited for the lock
            self._next_attempt_at = now + self._refetch_interval
            try:
                keys, ttl = await self._fetch()
            except JwksFetchError as exc:
                logger.warning(
                    "jwks: fetch failed, keeping %d cached keys: %s", len(self._keys), exc
                )
                if self._on_refresh is not None:
                    self._on_refresh(False)
                return False
            self._keys = keys
            self._fresh_until = self._clock() + ttl
            if self._on_refresh is not None:
                self._on_refresh(True)
            return True

    async def aclose(self) -> None:
        if self._background is not None and not self._background.done():
            self._background.cancel()
            try:
                await self._background
            except asyncio.CancelledError:
                pass

    def _refresh_in_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.create_task(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        await self.refresh()

    async def _fetch(self) -> tuple[dict[str, tuple[str, JoseKey]], float]:
        self.fetch_count += 1
        url = self._jwks_url or await self._discover_jwks_uri()
        response = await self._get(url)
        try:
            jwks = JwkSet.model_validate_json(response.content)
        except ValueError as exc:
            raise JwksFetchError("JWKS is not a valid key set") from exc
        keys = usable_keys(jwks, self._algorithms)
        if not keys:
            raise JwksFetchError("JWKS holds no usable signing key")
        max_age = parse_max_age(response.headers.get("cache-control"))
        ttl = self._default_ttl if max_age is None else float(max_age)
        return keys, min(max(ttl, self._min_ttl), self._max_ttl)

    async def _discover_jwks_uri(self) -> str:
        response = await self._get(self._discovery_url)
        try:
            metadata = response.json()
        except ValueError as exc:
            raise JwksFetchError("discovery document is not JSON") from exc
        # RFC 8414 §3.3: the document must name the issuer we expect, or we must not use it.
        if not isinstance(metadata, dict) or metadata.get("issuer") != self._issuer:
            raise JwksFetchError("discovery document names another issuer")
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise JwksFetchError("discovery document has no jwks_uri")
        self._jwks_url = jwks_uri
        return jwks_uri

    async def _get(self, url: str) -> httpx.Response:
        try:
            response = await self._http.get(url, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise JwksFetchError(f"{type(exc).__name__} from {url}") from exc
        if response.status_code != 200:
            raise JwksFetchError(f"HTTP {response.status_code} from {url}")
        if len(response.content) > MAX_JWKS_BYTES:
            raise JwksFetchError(f"response from {url} is too large")
        return response
