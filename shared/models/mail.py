"""Outgoing mail waiting for the SMTP server, and the single-use tokens mailed links carry."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from shared.models.types import UTCDateTime


def new_message_id() -> str:
    return str(uuid.uuid4())


class MailMessage(SQLModel, table=True):
    """One message in the outbox. Written in the transaction of the change it tells about, so
    a message is queued exactly when that change commits, and a restart loses nothing.

    `sealed` holds the recipient, subject and both bodies, encrypted (`SecretBox`): a reset
    link is as good as the account until it expires, so the database alone must not yield it.
    A sent message's row is deleted; one that kept failing stays with `failed_at` set.
    """

    __tablename__ = "mail_message"

    id: str = Field(default_factory=new_message_id, primary_key=True, max_length=36)
    kind: str = Field(max_length=40)  # the template, for logs and /dev/mail (not personal)
    sealed: str
    created_at: datetime = Field(sa_type=UTCDateTime)
    # When the sender may next try it; a claim moves it ahead (see MailRepository.claim_due).
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=300)
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MailedToken(SQLModel, table=True):
    """A token a mailed link carries (password reset): only its SHA-256 digest is kept."""

    __tablename__ = "mailed_token"

    token_hash: str = Field(primary_key=True, max_length=64)
    purpose: str = Field(max_length=20)  # "password-reset", "email-verify"
    user_id: str = Field(
        max_length=36, foreign_key="user_account.id", ondelete="CASCADE", index=True
    )
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # "email-verify": the address the link was sent to; it proves that address only, so a link
    # to an address the account has since left verifies nothing.
    address: str | None = Field(default=None, max_length=254)
