"""Device authorization requests (RFC 8628): a device's pending sign-in, answered on a second screen."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import JSON, Field, SQLModel

from shared.models.types import CLIENT_ID_MAX_LENGTH, UTCDateTime
from shared.scopes import parse_scope

# RFC 8628 §3.5: what the user has said so far.
PENDING, APPROVED, DENIED = "pending", "approved", "denied"


class DeviceAuthorization(SQLModel, table=True):
    """RFC 8628 §3.2: both codes are stored only as digests (the user code's keyed). The device polls with the
    device code (§3.4); the user types the user code (§3.3), which is unique among all rows."""

    __tablename__ = "device_authorization"

    device_code_hash: str = Field(primary_key=True, max_length=64)
    user_code_hash: str = Field(max_length=64, unique=True, index=True)
    client_id: str = Field(
        max_length=CLIENT_ID_MAX_LENGTH,
        foreign_key="client.client_id",
        ondelete="CASCADE",
        index=True,
    )
    scope: str = Field(max_length=1000)
    # RFC 8707 §2.1: the resources the device asked for; the approval's grant keeps them.
    resources: list[str] = Field(default_factory=list, sa_type=JSON)
    status: str = Field(default=PENDING, max_length=16)
    # Set on approval: who allowed it, when they signed in, and the token family it starts.
    user_id: str | None = Field(
        default=None, max_length=36, foreign_key="user_account.id", ondelete="CASCADE"
    )
    auth_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    grant_id: str | None = Field(
        default=None, max_length=32, foreign_key="grant.id", ondelete="CASCADE"
    )
    # RFC 8628 §3.5: the polling interval in seconds, raised by 5 at each slow_down.
    interval: int
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the device code was redeemed for tokens: once only.
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def scopes(self) -> frozenset[str]:
        return parse_scope(self.scope)
