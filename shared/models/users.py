"""People and their browser sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from shared.models.types import UTCDateTime


def new_user_id() -> str:
    return str(uuid.uuid4())


class User(SQLModel, table=True):
    # "user" is a reserved word in PostgreSQL.
    __tablename__ = "user_account"

    id: str = Field(default_factory=new_user_id, primary_key=True, max_length=36)
    # Stored lower-cased so that uniqueness is case-insensitive on both databases.
    username: str = Field(max_length=64, unique=True, index=True)
    email: str = Field(max_length=254, unique=True, index=True)
    email_verified: bool = False
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class UserSession(SQLModel, table=True):
    """A login: the cookie holds a random id, the table only its SHA-256 digest."""

    __tablename__ = "user_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(
        max_length=36, foreign_key="user_account.id", ondelete="CASCADE", index=True
    )
    created_at: datetime = Field(sa_type=UTCDateTime)
    # OIDC Core §2 auth_time: when the user last actually authenticated in this session.
    auth_time: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
