"""Published revocations (the feed resource servers follow) and their expiry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import RevocationEvent
from shared.revocations import SUBJECT_DELETED

# The events a session added, as (kind, value, expires_at Unix seconds); after commit the
# session's hook copies them into this instance's revocation list and announces them.
PENDING_ANNOUNCEMENT = "revocations_pending"


class RevocationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, kind: str, value: str, *, expires_at: datetime, now: datetime) -> None:
        self.session.add(
            RevocationEvent(kind=kind, value=value, created_at=now, expires_at=expires_at)
        )
        pending = self.session.info.setdefault(PENDING_ANNOUNCEMENT, [])
        pending.append((kind, value, expires_at.timestamp()))

    async def since(
        self, since: datetime, now: datetime, *, after_id: int, limit: int
    ) -> Sequence[RevocationEvent]:
        """Unexpired events created at or after `since`, by id, starting after `after_id`."""
        result = await self.session.exec(
            select(RevocationEvent)
            .where(
                RevocationEvent.created_at >= since,
                RevocationEvent.expires_at > now,
                col(RevocationEvent.id) > after_id,
            )
            .order_by(col(RevocationEvent.id))
            .limit(limit)
        )
        return result.all()

    async def is_revoked(
        self, *, jti: str, grant_id: str | None, now: datetime, client_id: str | None = None,
        sub: str | None = None,
    ) -> bool:  # fmt: skip
        # By kind as well as value: a client's change notice (same value) revokes nothing.
        keys = [("token", jti), ("grant", grant_id), ("client", client_id), (SUBJECT_DELETED, sub)]
        matches = [
            and_(col(RevocationEvent.kind) == kind, col(RevocationEvent.value) == value)
            for kind, value in keys
            if value is not None
        ]
        result = await self.session.exec(
            select(RevocationEvent.id)
            .where(or_(*matches), RevocationEvent.expires_at > now)
            .limit(1)
        )
        return result.first() is not None

    async def delete_expired(self, now: datetime) -> int:
        result = await self.session.exec(
            delete(RevocationEvent).where(col(RevocationEvent.expires_at) <= now)
        )
        return result.rowcount
