"""This instance's copy of the published revocations, so introspection needs no database read.

Revocations this process commits are copied in by the session's after-commit hook (see
RevocationNotifier), so this instance knows them before the revoking request has answered.
Other instances' arrive with the next read of the table, every `revocation_sync_interval`
seconds, or at once when Redis announces them: the same follower the resource servers run,
reading the database instead of the HTTP feed.

The same events tell this instance which clients another process changed (a secret rotated by
the CLI, metadata changed or a client deleted on another instance): `on_client_change` makes the
client cache forget them, so such a change is honoured here within the same delay.
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
from shared.revocations import (
    CLIENT_CHANGED,
    REVOCATION_CHANNEL,
    RevocationFollower,
    RevocationList,
)

# Events that mean a client's row is no longer what an instance may hold in memory.
CLIENT_EVENTS = frozenset({CLIENT_CHANGED, "client"})


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
        on_client_change: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(
            revocations, poll_interval=poll_interval, redis_url=redis_url, channel=channel
        )
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._on_client_change = on_client_change
        # Client events already acted on, by id -> expiry: every poll re-reads the last 30 s.
        self._seen: dict[int, float] = {}

    async def _fetch(self, after: int) -> dict[str, Any]:
        async with self._sessionmaker() as session:
            return await feed_page(
                RevocationRepository(session),
                since=datetime.fromtimestamp(self._since, UTC),
                after=after,
                now=self._clock(),
            )

    def _apply(self, event: dict[str, Any]) -> None:
        super()._apply(event)
        if self._on_client_change is None or event["type"] not in CLIENT_EVENTS:
            return
        event_id = event.get("id")  # announcements carry none: act on each
        if event_id is not None:
            if event_id in self._seen:
                return
            now = self._clock().timestamp()
            self._seen = {i: exp for i, exp in self._seen.items() if exp > now}
            self._seen[int(event_id)] = float(event["expires_at"])
        self._on_client_change(str(event["value"]))
