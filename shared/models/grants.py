"""What a user allowed a client, and the credentials minted from it.

A `Consent` remembers the user's decision per client. A `Grant` is one token family: every
authorization code, refresh token and access token (`grant_id` claim) issued from one
authorization. Revoking a grant revokes the whole family (RFC 9700 §4.14.2).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlmodel import JSON, Field, SQLModel

from shared.models.types import CLIENT_ID_MAX_LENGTH, UTCDateTime
from shared.scopes import parse_scope


def new_grant_id() -> str:
    return uuid.uuid4().hex


class Consent(SQLModel, table=True):
    __tablename__ = "consent"

    user_id: str = Field(
        max_length=36, foreign_key="user_account.id", ondelete="CASCADE", primary_key=True
    )
    client_id: str = Field(
        max_length=CLIENT_ID_MAX_LENGTH,
        foreign_key="client.client_id",
        ondelete="CASCADE",
        primary_key=True,
    )
    scope: str = Field(max_length=1000)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def scopes(self) -> frozenset[str]:
        return parse_scope(self.scope)


class Grant(SQLModel, table=True):
    __tablename__ = "grant"

    id: str = Field(default_factory=new_grant_id, primary_key=True, max_length=32)
    user_id: str = Field(
        max_length=36, foreign_key="user_account.id", ondelete="CASCADE", index=True
    )
    client_id: str = Field(
        max_length=CLIENT_ID_MAX_LENGTH,
        foreign_key="client.client_id",
        ondelete="CASCADE",
        index=True,
    )
    scope: str = Field(max_length=1000)
    auth_time: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The latest `exp` of any access token issued from this grant: how long a revocation of the
    # grant must be remembered by resource servers (lifetimes can change between issuances).
    access_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # RFC 9449 §5.0 / §5.2: the JWK thumbprint (RFC 7638) the grant's refresh tokens are bound
    # to, for public clients that used DPoP; None when they are not bound.
    dpop_jkt: str | None = Field(default=None, max_length=64)
    # RFC 8707 §2.1: the resources the authorization was asked for; its codes and refresh
    # tokens obtain access tokens for these only. Empty: the default audience. The server
    # default is migration 0010's, which gave every existing grant none.
    resources: list[str] = Field(
        default_factory=list, sa_type=JSON, sa_column_kwargs={"server_default": text("'[]'")}
    )

    @property
    def scopes(self) -> frozenset[str]:
        return parse_scope(self.scope)


class AuthorizationCode(SQLModel, table=True):
    """RFC 6749 §4.1.2: short-lived, single use, bound to everything the request said."""

    __tablename__ = "authorization_code"

    code_hash: str = Field(primary_key=True, max_length=64)
    grant_id: str = Field(max_length=32, foreign_key="grant.id", ondelete="CASCADE", index=True)
    client_id: str = Field(
        max_length=CLIENT_ID_MAX_LENGTH, foreign_key="client.client_id", ondelete="CASCADE"
    )
    user_id: str = Field(max_length=36, foreign_key="user_account.id", ondelete="CASCADE")
    # None when the request omitted redirect_uri (RFC 6749 §4.1.3 then needs none at the token).
    redirect_uri: str | None = Field(default=None, max_length=2000)
    scope: str = Field(max_length=1000)
    code_challenge: str | None = Field(default=None, max_length=128)
    code_challenge_method: str | None = Field(default=None, max_length=10)
    nonce: str | None = Field(default=None, max_length=512)
    # RFC 9449 §10: the key thumbprint `dpop_jkt` named at authorize/PAR; the token request's
    # proof must use that key.
    dpop_jkt: str | None = Field(default=None, max_length=64)
    auth_time: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RefreshToken(SQLModel, table=True):
    """RFC 6749 §6 with rotation: each use replaces the token with a successor in the same family."""

    __tablename__ = "refresh_token"

    token_hash: str = Field(primary_key=True, max_length=64)
    grant_id: str = Field(max_length=32, foreign_key="grant.id", ondelete="CASCADE", index=True)
    client_id: str = Field(
        max_length=CLIENT_ID_MAX_LENGTH, foreign_key="client.client_id", ondelete="CASCADE"
    )
    scope: str = Field(max_length=1000)
    parent_hash: str | None = Field(default=None, max_length=64, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    rotated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def scopes(self) -> frozenset[str]:
        return parse_scope(self.scope)
