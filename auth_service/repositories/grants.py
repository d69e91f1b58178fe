"""Grants: token families and their revocation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, exists, or_
from sqlmodel import col, delete, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import AuthorizationCode, Grant, RefreshToken


class GrantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, grant: Grant) -> Grant:
        self.session.add(grant)
        await self.session.flush()
        return grant

    async def get_by_id(self, grant_id: str) -> Grant | None:
        return await self.session.get(Grant, grant_id)

    async def lock(self, grant_id: str) -> Grant | None:
        """Read the grant and hold its row until commit (PostgreSQL; SQLite's writer lock already does).

        Every change to a token family takes this lock first, so refreshes and revocations of one
        family queue in one order and cannot deadlock on each other's token rows.
        """
        result = await self.session.exec(
            select(Grant)
            .where(Grant.id == grant_id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        return result.first()

    async def active_ids(self, user_id: str, client_id: str) -> Sequence[str]:
        result = await self.session.exec(
            select(Grant.id).where(
                Grant.user_id == user_id,
                Grant.client_id == client_id,
                col(Grant.revoked_at).is_(None),
            )
        )
        return result.all()

    async def active_ids_for_user(self, user_id: str) -> Sequence[str]:
        """Every live grant of the user, of every client, in id order (the order they are locked)."""
        result = await self.session.exec(
            select(Grant.id)
            .where(Grant.user_id == user_id, col(Grant.revoked_at).is_(None))
            .order_by(col(Grant.id))
        )
        return result.all()

    async def lock_live_for_client(self, client_id: str) -> Sequence[Grant]:
        """Every live grant of the client, of every user, locked as `lock` does and in id order
        (the order every multi-grant writer takes them): no token is issued from them until
        commit."""
        result = await self.session.exec(
            select(Grant)
            .where(Grant.client_id == client_id, col(Grant.revoked_at).is_(None))
            .order_by(col(Grant.id))
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        return result.all()

    async def last_used(self, user_id: str) -> dict[str, datetime]:
        """client_id -> when this user's tokens for it were last issued or refreshed."""
        result = await self.session.exec(
            select(Grant.client_id, func.max(Grant.last_used_at))
            .where(Grant.user_id == user_id)
            .group_by(col(Grant.client_id))
        )
        return {client_id: used for client_id, used in result.all() if used is not None}

    async def delete_stale(self, before: datetime) -> int:
        """Grants revoked, or with nothing left that could use them, since before `before`."""
        unused = and_(
            func.coalesce(col(Grant.access_expires_at), col(Grant.created_at)) < before,
            ~exists().where(col(RefreshToken.grant_id) == col(Grant.id)),
            ~exists().where(col(AuthorizationCode.grant_id) == col(Grant.id)),
        )
        result = await self.session.exec(
            delete(Grant).where(or_(col(Grant.revoked_at) < before, unused))
        )
        return result.rowcount

    async def revoke(self, grant_id: str, now: datetime) -> bool:
        result = await self.session.exec(
            update(Grant)
            .where(col(Grant.id) == grant_id, col(Grant.revoked_at).is_(None))
            .values(revoked_at=now)
        )
        return result.rowcount == 1

    async def lock_for_issue(
        self, grant_id: str, now: datetime, access_expires_at: datetime
    ) -> Grant | None:
        """Lock a live grant and note an access token valid until `access_expires_at`, issued now.

        One `UPDATE … RETURNING` instead of `lock` and a second UPDATE: each statement is a round
        trip, and on the code and refresh paths these were two of seven. The row lock is the one
        `lock` takes (an UPDATE that changes no key takes FOR NO KEY UPDATE on PostgreSQL), held
        until commit; a rollback undoes the note. None: no such grant, or it was revoked.
        """
        later = case(
            (
                or_(
                    col(Grant.access_expires_at).is_(None),
                    col(Grant.access_expires_at) < access_expires_at,
                ),
                access_expires_at,
            ),
            else_=col(Grant.access_expires_at),
        )
        result = await self.session.exec(
            update(Grant)
            .where(col(Grant.id) == grant_id, col(Grant.revoked_at).is_(None))
            .values(last_used_at=now, access_expires_at=later)
            .returning(Grant)
            # The returned row is the news; nothing else in the session needs syncing.
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        return result.scalars().first()

    async def bind_dpop_key(self, grant_id: str, jkt: str) -> None:
        """RFC 9449 §5: bind the family's refresh tokens to a DPoP key, once (the caller holds
        the grant's lock and has checked any earlier binding)."""
        await self.session.exec(
            update(Grant)
            .where(col(Grant.id) == grant_id, col(Grant.dpop_jkt).is_(None))
            .values(dpop_jkt=jkt)
            .execution_options(synchronize_session=False)
        )
