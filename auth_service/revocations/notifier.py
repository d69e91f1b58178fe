"""Hand committed revocations to this instance's list, and announce them on Redis so resource
servers and the other instances learn them at once.

The message carries the revocations just committed, so followers know them even while the feed
cannot answer (its database down), and prompts them to poll. The feed stays the record: a
follower that misses a message still finds the events at its next regular poll, so Redis can
fail without losing one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from auth_service.repositories.revocations import PENDING_ANNOUNCEMENT
from shared.revocations import REVOCATION_CHANNEL, RevocationList, announcement

logger = logging.getLogger(__name__)


class RevocationNotifier:
    def __init__(
        self,
        redis_url: str | None,
        local: RevocationList | None = None,
        *,
        channel: str = REVOCATION_CHANNEL,
    ) -> None:
        self._local = local
        self._channel = channel
        self._redis: Any = None
        if redis_url:
            import redis.asyncio as redis

            self._redis = redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self._tasks: set[asyncio.Task[None]] = set()
        self.announced = 0

    def after_commit(self, session: Session) -> None:
        """SQLAlchemy after_commit hook: runs inside the committing coroutine's event loop."""
        events: list[tuple[str, str, float]] = session.info.pop(PENDING_ANNOUNCEMENT, [])
        if not events:
            return
        if self._local is not None:
            for kind, value, expires_at in events:
                self._local.add(kind, value, expires_at)
        self.announced += 1
        if self._redis is None:
            return
        task = asyncio.get_running_loop().create_task(self._publish(announcement(events)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def after_soft_rollback(self, session: Session, previous_transaction: object) -> None:
        """A rolled-back revocation was never made, so there is nothing to announce."""
        session.info.pop(PENDING_ANNOUNCEMENT, None)

    def listeners(self) -> dict[str, Callable[..., None]]:
        return {"after_commit": self.after_commit, "after_soft_rollback": self.after_soft_rollback}

    async def _publish(self, message: bytes) -> None:
        try:
            await self._redis.publish(self._channel, message)
        except Exception as exc:  # noqa: BLE001 - the periodic poll covers a lost message
            logger.warning("revocation announcement failed: %s", type(exc).__name__)

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._redis is not None:
            await self._redis.aclose()
