"""Upstream identity providers (identity brokering) and the links from their subjects to accounts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.models.types import UTCDateTime


class UpstreamProvider(SQLModel, table=True):
    """A provider people may sign in with: OpenID Connect (endpoints found by discovery from
    `issuer`) or plain OAuth 2.0 with a userinfo URL (`kind` "oauth2", endpoints given)."""

    __tablename__ = "upstream_provider"

    id: str = Field(primary_key=True, max_length=32)  # in URLs: /login/upstream/<id>
    name: str = Field(max_length=64)  # on the button: "Sign in with <name>"
    kind: str = Field(max_length=8)  # "oidc" | "oauth2"
    issuer: str | None = Field(default=None, max_length=512)
    authorization_endpoint: str | None = Field(default=None, max_length=512)
    token_endpoint: str | None = Field(default=None, max_length=512)
    userinfo_endpoint: str | None = Field(default=None, max_length=512)
    client_id: str = Field(max_length=255)
    client_secret_encrypted: str  # SecretBox
    token_endpoint_auth_method: str = Field(default="client_secret_basic", max_length=32)
    scope: str = Field(max_length=255)
    # The userinfo member that names the person (GitHub's is "id"); OIDC always uses `sub`.
    subject_claim: str = Field(default="sub", max_length=64)
    # Its `email_verified: true` is believed: a first sign-in links to the account with that
    # address without asking for its password.
    trusted: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime)


class UpstreamLink(SQLModel, table=True):
    """This account is the person an upstream names with `subject` (never matched by email).
    One link per upstream and account: removing "GitHub" from an account removes one link."""

    __tablename__ = "upstream_link"
    __table_args__ = (UniqueConstraint("user_id", "provider_id", name="uq_upstream_link_user"),)

    provider_id: str = Field(
        primary_key=True, max_length=32, foreign_key="upstream_provider.id", ondelete="CASCADE"
    )
    subject: str = Field(primary_key=True, max_length=255)
    user_id: str = Field(
        max_length=36, foreign_key="user_account.id", ondelete="CASCADE", index=True
    )
    # What the account page shows beside the provider's name (the upstream's address, if any).
    label: str = Field(default="", max_length=254)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
