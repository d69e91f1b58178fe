"""Signing key metadata. Private key material lives in the auth service's key directory, never here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import JSON, Field, SQLModel

from shared.models.types import UTCDateTime


class SigningKey(SQLModel, table=True):
    __tablename__ = "signing_key"

    kid: str = Field(primary_key=True, max_length=64)
    alg: str = Field(max_length=10)
    public_jwk: dict[str, Any] = Field(sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)
    # Published at once, signs only from here on, so caches learn the key before it is used.
    activates_at: datetime = Field(sa_type=UTCDateTime)
    # Unpublished after this instant: set when a successor activates, past every token's expiry.
    retires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
