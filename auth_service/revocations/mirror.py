"""This instance's copy of the published revocations, so introspection needs no database read.

Revocations this process commits are copied in by the session's after-commit hook (see
RevocationNotifier), so this instance knows them before the revoking request has answered.
Other instances' arrive with the next read of the table, every `revocation_sync_interval`
seconds, or at once when Redis announces them: the same follower the resource servers run,
reading the database instead of the HTTP feed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from auth_service.repositories.revocations import RevocationRepository
from auth_service.revocations.feed import feed_page
from shared.revocations import REVOCATION_CHANNEL, RevocationFollower, RevocationList


class RevocationMirror(RevocationFollower):
    recoverable_errors = (SQLAlchemyError, OSError, *RevocationFollower.recoverable_errors)

    def __init__(
        self,
        revocations: RevocationList,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        *,
        poll_interval: float,
        redis_url: str | None = None,
        channel: str = REVOCATION_CHANNEL,
    ) -> None:
        super().__init__(
            revocations, poll_interval=poll_interval, redis_url=redis_url, channel=channel
        )
        self._sessionmaker = sessionmaker
        self._clock = clock

    async def _fetch(self, after: int) -> dict[str, Any]:
        async with self._sessionmaker() as session:
            return await feed_page(
                RevocationRepository(session),
                since=datetime.fromtimestamp(self._since, UTC),
                after=after,
                now=self._clock(),
            )
