"""Authorization requests waiting for the user to log in or consent (RFC 6749 §4.1.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import JSON, Field, SQLModel

from shared.models.types import CLIENT_ID_MAX_LENGTH, UTCDateTime


class PendingAuthorization(SQLModel, table=True):
    """A validated request kept server-side so the browser only carries its random id."""

    __tablename__ = "pending_authorization"

    id: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(
        max_length=CLIENT_ID_MAX_LENGTH,
        foreign_key="client.client_id",
        ondelete="CASCADE",
        index=True,
    )
    # The validated parameters (redirect_uri, scope, state, nonce, PKCE, prompt, ...).
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # The session must have authenticated at or after this instant (prompt=login, max_age).
    min_auth_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
