"""The user's remembered consent per client."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from auth_service.repositories.upsert import insert_for
from shared.models import Client, Consent
from shared.scopes import format_scope


class ConsentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: str, client_id: str) -> Consent | None:
        return await self.session.get(Consent, (user_id, client_id))

    async def list_for_user(self, user_id: str) -> Sequence[tuple[Consent, Client]]:
        result = await self.session.exec(
            select(Consent, Client)
            .join(Client, col(Client.client_id) == col(Consent.client_id))
            .where(Consent.user_id == user_id)
            .order_by(col(Consent.created_at))
        )
        return result.all()

    async def delete(self, user_id: str, client_id: str) -> bool:
        result = await self.session.exec(
            delete(Consent).where(
                col(Consent.user_id) == user_id, col(Consent.client_id) == client_id
            )
        )
        return result.rowcount == 1

    async def delete_all_for_user(self, user_id: str) -> int:
        result = await self.session.exec(delete(Consent).where(col(Consent.user_id) == user_id))
        return int(result.rowcount or 0)

    async def record(
        self, user_id: str, client_id: str, scopes: frozenset[str], now: datetime
    ) -> Consent:
        """Remember the union of what the user has allowed this client so far.

        Two consents of one user for one client can finish together (two tabs, a double click):
        the insert yields to a row the other made, and the merge reads that row under a lock, so
        both succeed and neither loses the other's scopes.
        """
        key = (col(Consent.user_id) == user_id, col(Consent.client_id) == client_id)
        await self.session.exec(
            insert_for(self.session, Consent)
            .values(
                user_id=user_id,
                client_id=client_id,
                scope=format_scope(scopes),
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["user_id", "client_id"])
        )
        result = await self.session.exec(
            select(Consent).where(*key).with_for_update().execution_options(populate_existing=True)
        )
        consent = result.one()
        merged = consent.scopes | scopes
        if merged != consent.scopes:
            consent.scope = format_scope(merged)
        consent.updated_at = now
        await self.session.flush()
        return consent
