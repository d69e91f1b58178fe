"""Resource-server look-ups by identifier URI (RFC 8707 §2) kept in memory for a moment.

Every token request resolves its audience, the default one included, so reading the registry
each time would turn a request served from memory (cached client, signing key) into a database
transaction. Lookups that found nothing are kept too: an unregistered default audience is the
usual case. Invalidated like the client cache: by the unit of work right after a change commits
here, and by a `rs_mod` notice in the revocation feed for changes made elsewhere (CLI, other
instances); `ttl` bounds the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from auth_service.lookup_cache import LookupCache
from shared.models import ResourceServer


@dataclass(frozen=True, slots=True)
class RegisteredResource:
    """What issuing a token needs of a resource server; immutable, so requests can share it."""

    uri: str
    scopes: frozenset[str]

    @classmethod
    def of(cls, server: ResourceServer) -> RegisteredResource:
        return cls(uri=server.uri, scopes=server.scopes)


class ResourceServerCache(LookupCache[RegisteredResource]):
    """Misses are bounded apart from the rows: a client may name any `resource` it likes, and
    those must not push the registered servers out."""

    def __init__(
        self,
        *,
        ttl: float = 2.0,
        max_entries: int = 10_000,
        max_misses: int = 1_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(ttl=ttl, max_entries=max_entries, max_misses=max_misses, clock=clock)
