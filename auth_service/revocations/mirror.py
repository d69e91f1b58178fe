"""This instance's copy of the published revocations, so introspection needs no database read.

Revocations this process commits are copied in by the session's after-commit hook (see
RevocationNotifier), so this instance knows them before the revoking request has answered.
Other instances' arrive with the next read of the table, every `revocation_sync_interval`
seconds, or at once when Redis announces them: the same follower the resource servers run,
reading the database instead of the HTTP feed.

The same events tell this instance which clients another process changed (a secret rotated by
the CLI, metadata changed or a client deleted on another instance): `on_client_change` makes the
client cache forget them, so such a change is honoured here within the same delay; resource
servers registered, changed or deleted elsewhere make `on_resource_server_change` empty the
resource-server cache.
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
    RESOURCE_SERVER_CHANGED,
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
        on_resource_server_change: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            revocations, poll_interval=poll_interval, redis_url=redis_url, channel=channel
        )
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._on_client_change = on_client_change
        self._on_resource_server_change = on_resource_server_change
        # Change notices already acted on, by id -> expiry: every poll re-reads the last 30 s.
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
        kind = event["type"]
        if kind in CLIENT_EVENTS and self._on_client_change is not None:
            if self._first_sight(event):
                self._on_client_change(str(event["value"]))
        elif kind == RESOURCE_SERVER_CHANGED and self._on_resource_server_change is not None:
            if self._first_sight(event):
                self._on_resource_server_change()

    def _first_sight(self, event: dict[str, Any]) -> bool:
        """Whether this notice is new here; announcements carry no id, so each one is."""
        event_id = event.get("id")
        if event_id is None:
            return True
        if event_id in self._seen:
            return False
        now = self._clock().timestamp()
        self._seen = {i: exp for i, exp in self._seen.items() if exp > now}
        self._seen[int(event_id)] = float(event["expires_at"])
        return True
