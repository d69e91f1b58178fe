"""Pushed authorization requests (RFC 9126): parameters a client sent on the back channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import JSON, Field, SQLModel

from shared.models.types import CLIENT_ID_MAX_LENGTH, UTCDateTime


class PushedAuthorizationRequest(SQLModel, table=True):
    """RFC 9126 §2.2: the `request_uri` is a reference to these parameters; only its SHA-256 is
    stored. Used up when a code is issued from it (§4), not when the browser first brings it."""

    __tablename__ = "pushed_authorization_request"

    request_uri_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(
        max_length=CLIENT_ID_MAX_LENGTH,
        foreign_key="client.client_id",
        ondelete="CASCADE",
        index=True,
    )
    # The authorization parameters as pushed (after client authentication, before validation).
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
