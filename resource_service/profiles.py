"""User profiles as the resource API sees them: read from the auth service's table, cached briefly.

A profile is fresh for `ttl` seconds, so most requests touch no database at all. When the
database cannot be reached, a cached profile keeps being served for up to `stale_for` seconds:
the API goes on answering users it has seen while PostgreSQL restarts.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from resource_service.repositories.profiles import ProfileRepository
from shared.failures import is_database_outage

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProfileView:
    id: str
    username: str
    name: str
    email: str
    email_verified: bool


class ProfileCache:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        ttl: float = 30.0,
        stale_for: float = 3600.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._ttl, self._stale_for, self._max_entries = ttl, stale_for, max_entries
        self._clock = clock
        # user id -> (profile or None for "no such user", when read); oldest first.
        self._entries: OrderedDict[str, tuple[ProfileView | None, float]] = OrderedDict()

    async def get(self, user_id: str) -> ProfileView | None:
        now = self._clock()
        cached = self._entries.get(user_id)
        if cached is not None and now - cached[1] < self._ttl:
            return cached[0]
        try:
            profile = await self._read(user_id)
        except Exception as exc:
            if is_database_outage(exc) and cached is not None and now - cached[1] < self._stale_for:
                logger.warning("database unavailable: serving a cached profile")
                return cached[0]
            raise
        self._remember(user_id, profile, now)
        return profile

    async def _read(self, user_id: str) -> ProfileView | None:
        async with self._sessionmaker() as session:
            user = await ProfileRepository(session).get_by_id(user_id)
        if user is None:
            return None
        return ProfileView(user.id, user.username, user.name, user.email, user.email_verified)

    def _remember(self, user_id: str, profile: ProfileView | None, now: float) -> None:
        self._entries[user_id] = (profile, now)
        self._entries.move_to_end(user_id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
