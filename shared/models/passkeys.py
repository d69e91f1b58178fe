"""Passkeys (WebAuthn Level 3 public-key credentials) and the challenges of their ceremonies."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from shared.models.types import UTCDateTime

# A credential id is at most 1023 bytes (WebAuthn §5.8.3): 1364 characters in base64url.
CREDENTIAL_ID_MAX = 1364


class Passkey(SQLModel, table=True):
    __tablename__ = "passkey"

    credential_id: str = Field(primary_key=True, max_length=CREDENTIAL_ID_MAX)  # base64url
    user_id: str = Field(
        max_length=36, foreign_key="user_account.id", ondelete="CASCADE", index=True
    )
    name: str = Field(max_length=64)
    public_key: str  # COSE_Key, base64url: verifies signatures, proves nothing on its own
    sign_count: int = 0
    backed_up: bool = False  # a synced passkey (WebAuthn §6.1 BS flag)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PasskeyChallenge(SQLModel, table=True):
    """A ceremony's random challenge, kept as its SHA-256 digest, single use, short-lived, and
    bound to what started it: the session (adding a passkey) or the browser (signing in)."""

    __tablename__ = "passkey_challenge"

    challenge_hash: str = Field(primary_key=True, max_length=64)
    purpose: str = Field(max_length=16)  # "register" | "sign-in"
    binding: str = Field(max_length=64)  # session id digest, or browser key digest
    user_id: str | None = Field(
        default=None, max_length=36, foreign_key="user_account.id", ondelete="CASCADE"
    )
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
