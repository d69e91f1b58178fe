"""Published revocations: what resource servers must refuse until it would have expired anyway."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlmodel import Field, SQLModel

from shared.models.types import UTCDateTime

RevocationKind = Literal["token", "grant", "client", "client_mod"]


class RevocationEvent(SQLModel, table=True):
    """One revoked access token (`token`: its jti), token family (`grant`: its grant id) or every
    token of a deleted client (`client`: its client id); or a notice that a client's registration
    changed (`client_mod`: its client id), which revokes nothing."""

    __tablename__ = "revocation_event"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=10)
    value: str = Field(max_length=64, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # After this instant no token it covers can be valid, so the entry can be forgotten.
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
