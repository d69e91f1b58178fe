"""The resource service's own data: each user's notes."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, Index, SQLModel

from shared.models.types import UTCDateTime

MAX_TITLE_LENGTH = 200
MAX_BODY_LENGTH = 10_000


class Note(SQLModel, table=True):
    __tablename__ = "note"
    # Listing is always "this owner's notes, newest first, after a cursor".
    __table_args__ = (Index("ix_note_owner_id_id", "owner_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    owner_id: str = Field(max_length=36, foreign_key="user_account.id", ondelete="CASCADE")
    title: str = Field(max_length=MAX_TITLE_LENGTH)
    body: str = Field(default="", max_length=MAX_BODY_LENGTH)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
