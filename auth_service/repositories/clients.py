"""Registered clients."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from auth_service.repositories.upsert import insert_for
from shared.models import Client


class ClientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # Every client_id written through this repository: once the unit of work commits, the
        # in-process ClientCache forgets them (see UnitOfWork.commit); a rollback empties the set.
        self.changed: set[str] = set()

    async def get_by_client_id(self, client_id: str) -> Client | None:
        return await self.session.get(Client, client_id)

    async def add(self, client: Client) -> Client:
        self.changed.add(client.client_id)
        self.session.add(client)
        await self.session.flush()
        return client

    async def add_if_absent(self, client: Client) -> Client:
        """Insert `client` unless a row with its id exists (a concurrent request wrote it first:
        the conflict clause settles the race); return the stored row."""
        self.changed.add(client.client_id)
        values = {column.name: getattr(client, column.name) for column in Client.__table__.columns}  # type: ignore[attr-defined]
        await self.session.exec(
            insert_for(self.session, Client)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["client_id"])
        )
        stored = await self.session.get(Client, client.client_id, populate_existing=True)
        assert stored is not None  # noqa: S101 - inserted or already there
        return stored

    async def save(self, client: Client) -> Client:
        """Write the changes made to a loaded client."""
        self.changed.add(client.client_id)
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

    async def list_limited_to(self, resource: str) -> list[Client]:
        """Clients whose resource list (RFC 8707) names `resource`. Only limited clients are
        read; the JSON list is compared here, the same way on every database."""
        result = await self.session.exec(select(Client).where(col(Client.resources).is_not(None)))
        return [c for c in result.all() if c.resources is not None and resource in c.resources]

    async def delete(self, client_id: str) -> None:
        # ON DELETE CASCADE takes consents, grants, codes, refresh tokens and pending requests.
        self.changed.add(client_id)
        await self.session.exec(delete(Client).where(col(Client.client_id) == client_id))

    async def set_registration_token_hash(self, client_id: str, token_hash: str) -> None:
        self.changed.add(client_id)
        await self.session.exec(
            update(Client)
            .where(col(Client.client_id) == client_id)
            .values(registration_access_token_hash=token_hash)
        )

    async def set_secret_hash(
        self, client_id: str, secret_hash: str, now: datetime, *, encrypted: str | None = None
    ) -> bool:
        """A new secret: its digest, and (client_secret_jwt only) the secret encrypted."""
        self.changed.add(client_id)
        result = await self.session.exec(
            update(Client)
            .where(col(Client.client_id) == client_id)
            .values(
                client_secret_hash=secret_hash,
                client_secret_encrypted=encrypted,
                updated_at=now,
            )
        )
        return result.rowcount == 1
