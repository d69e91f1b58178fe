"""Registered clients."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import Client


class ClientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_client_id(self, client_id: str) -> Client | None:
        return await self.session.get(Client, client_id)

    async def add(self, client: Client) -> Client:
        self.session.add(client)
        await self.session.flush()
        return client

    async def list_all(self) -> Sequence[Client]:
        result = await self.session.exec(select(Client).order_by(col(Client.created_at)))
        return result.all()

    async def list_owned_by(self, owner_id: str) -> Sequence[Client]:
        result = await self.session.exec(
            select(Client).where(Client.owner_id == owner_id).order_by(col(Client.created_at))
        )
        return result.all()

    async def delete(self, client_id: str) -> None:
        # ON DELETE CASCADE takes consents, grants, codes, refresh tokens and pending requests.
        await self.session.exec(delete(Client).where(col(Client.client_id) == client_id))

    async def set_registration_token_hash(self, client_id: str, token_hash: str) -> None:
        await self.session.exec(
            update(Client)
            .where(col(Client.client_id) == client_id)
            .values(registration_access_token_hash=token_hash)
        )

    async def set_secret_hash(self, client_id: str, secret_hash: str, now: datetime) -> bool:
        result = await self.session.exec(
            update(Client)
            .where(col(Client.client_id) == client_id)
            .values(client_secret_hash=secret_hash, updated_at=now)
        )
        return result.rowcount == 1
