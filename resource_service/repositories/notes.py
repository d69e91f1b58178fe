"""Each user's notes: the only queries on the `note` table, always scoped to one owner."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.models import Note


class NoteRepository:
    """Every method takes the owner: a note id alone never reaches a row (no IDOR by construction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_for_owner(
        self, owner_id: str, *, limit: int, before_id: int | None = None
    ) -> Sequence[Note]:
        """Newest first (ids only grow), at most `limit`, strictly older than `before_id`."""
        query = select(Note).where(Note.owner_id == owner_id)
        if before_id is not None:
            query = query.where(col(Note.id) < before_id)
        result = await self.session.exec(query.order_by(col(Note.id).desc()).limit(limit))
        return result.all()

    async def get_for_owner(self, owner_id: str, note_id: int) -> Note | None:
        query = select(Note).where(Note.id == note_id, Note.owner_id == owner_id)
        return (await self.session.exec(query)).first()

    async def add(self, note: Note) -> Note:
        self.session.add(note)
        await self.session.flush()  # assigns the id the Location header needs
        return note

    async def delete_for_owner(self, owner_id: str, note_id: int) -> bool:
        """One conditional DELETE; False when there was no such note of this owner."""
        statement = delete(Note).where(col(Note.id) == note_id, col(Note.owner_id) == owner_id)
        result = await self.session.exec(statement)
        return result.rowcount == 1

    async def delete_all_for_owner(self, owner_id: str) -> int:
        """Every note of `owner_id` (their account was deleted); how many there were."""
        result = await self.session.exec(delete(Note).where(col(Note.owner_id) == owner_id))
        return int(result.rowcount or 0)
