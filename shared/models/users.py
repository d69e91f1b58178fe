"""People and their browser sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from shared.models.types import UTCDateTime

# The password_hash of an account made by a sign-in through an upstream provider: no hash
# format starts with "!", so no password matches it (until one is set by a reset).
NO_PASSWORD = "!"


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
    # RFC 6238 second factor: the shared secret, encrypted at rest (auth_service/security/secret_box).
    # Set but not enabled while the user is enrolling; the last accepted time step stops replays.
    totp_secret: str | None = Field(default=None, max_length=512)
    totp_enabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    totp_last_step: int | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def has_second_factor(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def has_password(self) -> bool:
        return self.password_hash != NO_PASSWORD


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
    # The password was right but the second factor is still to come: not logged in yet.
    second_factor_pending: bool = False
    # OIDC Core §2 amr values of this login, space-separated ("pwd", "pwd otp").
    amr: str = Field(default="pwd", max_length=64)
    # What /account/sessions shows the owner: the browser's User-Agent (cut to 512 characters),
    # the address it signed in from, and when it was last used (to the minute: written when the
    # idle end moves on). None on sessions from before these columns.
    user_agent: str | None = Field(default=None, max_length=512)
    ip: str | None = Field(default=None, max_length=45)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RecoveryCode(SQLModel, table=True):
    """One-time codes for when the authenticator is lost; only their keyed digests are kept
    (HMAC-SHA256 under a key from the key directory; codes from before that, bare SHA-256)."""

    __tablename__ = "recovery_code"

    code_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(
        max_length=36, foreign_key="user_account.id", ondelete="CASCADE", index=True
    )
    created_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
