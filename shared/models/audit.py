"""Security events, kept for people who investigate. Never holds a secret, token or code."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import JSON, Field, SQLModel

from shared.models.types import CLIENT_ID_MAX_LENGTH, UTCDateTime


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    event: str = Field(max_length=64, index=True)
    user_id: str | None = Field(default=None, max_length=36, index=True)
    client_id: str | None = Field(default=None, max_length=CLIENT_ID_MAX_LENGTH)
    request_id: str | None = Field(default=None, max_length=64)
    ip: str | None = Field(default=None, max_length=64)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
