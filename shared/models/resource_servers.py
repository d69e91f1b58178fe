"""Registered resource servers (RFC 8707 §2): the audiences an access token may be issued for."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from shared.models.types import UTCDateTime
from shared.scopes import parse_scope

MAX_RESOURCE_URI_LENGTH = 2000


def new_resource_server_id() -> str:
    return uuid.uuid4().hex


class ResourceServer(SQLModel, table=True):
    __tablename__ = "resource_server"

    id: str = Field(default_factory=new_resource_server_id, primary_key=True, max_length=32)
    # RFC 8707 §2: an absolute URI without a fragment; it becomes the access token's `aud`.
    uri: str = Field(max_length=MAX_RESOURCE_URI_LENGTH, unique=True, index=True)
    name: str = Field(max_length=200)
    # The scopes it serves, as a wire string: a token for it carries only these.
    scope: str = Field(default="", max_length=1000)
    # Who registered it in the developer portal; None for the operator's (CLI) ones.
    owner_id: str | None = Field(
        default=None, max_length=36, foreign_key="user_account.id", ondelete="CASCADE", index=True
    )
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def scopes(self) -> frozenset[str]:
        return parse_scope(self.scope)
