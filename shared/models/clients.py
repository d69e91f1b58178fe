"""Registered OAuth clients (RFC 6749 §2, RFC 7591 §2 metadata)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import JSON, Field, SQLModel, Text

from shared.models.types import CLIENT_ID_MAX_LENGTH, UTCDateTime
from shared.scopes import parse_scope


class Client(SQLModel, table=True):
    __tablename__ = "client"

    client_id: str = Field(primary_key=True, max_length=CLIENT_ID_MAX_LENGTH)
    # SHA-256 hex digest of the secret; None for public clients (RFC 6749 §2.1).
    client_secret_hash: str | None = Field(default=None, max_length=64)
    name: str = Field(max_length=200)
    redirect_uris: list[str] = Field(default_factory=list, sa_type=JSON)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, sa_type=JSON)
    # The scopes this client may ask for, as a wire string.
    scope: str = Field(default="", max_length=1000)
    grant_types: list[str] = Field(default_factory=list, sa_type=JSON)
    is_public: bool = False
    # RFC 9700 §2.1.1: PKCE for everyone; an operator may relax it for a legacy confidential client.
    require_pkce: bool = True
    is_first_party: bool = False
    can_introspect: bool = False
    access_token_ttl: int | None = None
    refresh_token_ttl: int | None = None
    owner_id: str | None = Field(
        default=None, max_length=36, foreign_key="user_account.id", ondelete="CASCADE", index=True
    )
    homepage_uri: str | None = Field(default=None, max_length=2000)
    logo_uri: str | None = Field(default=None, max_length=2000)
    # RFC 7591 §2 metadata as registered; confidential clients may use basic or post either way.
    token_endpoint_auth_method: str = Field(default="client_secret_basic", max_length=32)
    # client_secret_jwt (RFC 7523 §2.2) verifies an HMAC keyed by the secret itself, so for such
    # clients only the secret is also kept, encrypted by the auth service's SecretBox (Fernet,
    # key in the key directory): the database alone does not reveal it.
    client_secret_encrypted: str | None = Field(default=None, sa_type=Text)
    # RFC 7592 §3: the bearer credential for reading, updating and deleting a dynamic registration.
    registration_access_token_hash: str | None = Field(default=None, max_length=64)
    # RFC 7591 §2 / OIDC Registration §2 metadata kept only to be shown and echoed (contacts,
    # tos_uri, policy_uri, software_id, ...), as registered (RFC 7591 §3.2.1).
    registered_metadata: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # RFC 9126 §6: this client's authorization requests must come through PAR.
    require_pushed_authorization_requests: bool = False
    # RFC 9449 §5.2: this client's access tokens are always DPoP-bound (a proof is required).
    dpop_bound_access_tokens: bool = False
    # RFC 7591 §2 / RFC 7523: the client's public keys for private_key_jwt and signed requests,
    # given inline (a JWK Set) or by URL; at most one of the two.
    jwks: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    jwks_uri: str | None = Field(default=None, max_length=2000)
    # OIDC Registration §2: the ID token signing algorithm; None means the server's default.
    id_token_signed_response_alg: str | None = Field(default=None, max_length=10)
    # RFC 7591 §2: the only algorithm this client's JWT assertions may use; None = any the
    # registered method allows.
    token_endpoint_auth_signing_alg: str | None = Field(default=None, max_length=10)
    # A security profile the client is held to as a whole: None, or "fapi2" (FAPI 2.0 Security
    # Profile; auth_service/oauth/fapi2.py says what that enforces).
    profile: str | None = Field(default=None, max_length=16)
    # RFC 8707 §2: the resource server URIs this client may ask tokens for; None = every
    # registered one.
    resources: list[str] | None = Field(default=None, sa_type=JSON)
    # RFC 8693 §5 policy: the other clients whose users' access tokens (those from a user's
    # grant) this client may present as subject tokens in a token exchange; its own it always
    # may. An actor token is always the client's own.
    may_exchange_for: list[str] = Field(default_factory=list, sa_type=JSON)
    # draft-ietf-oauth-client-id-metadata-document-00: the client_id is an https URL and this
    # row is a copy of the JSON document found there (auth_service/clients/metadata_documents.py),
    # rewritten whenever the document is fetched again; never edited by the CLI or the portal.
    from_metadata_document: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def scopes(self) -> frozenset[str]:
        return parse_scope(self.scope)

    @property
    def is_vetted(self) -> bool:
        """Registered by the operator (CLI), not self-service (portal, dynamic registration):
        only such a client's URIs are redirected to without the user choosing to (RFC 9700
        §4.11.2), so self-registered ones cannot turn us into an open redirector."""
        return (
            self.owner_id is None
            and self.registration_access_token_hash is None
            # Anyone can publish a metadata document (draft-ietf-oauth-client-id-metadata-document
            # -00 §6): such a client is as unvetted as a self-registered one.
            and not self.from_metadata_document
        )

    @property
    def published_by(self) -> str | None:
        """The host of a metadata-document client's URL: the one part of it nobody else can
        claim (its name is whatever the document says), shown wherever the client is named."""
        return urlsplit(self.client_id).hostname if self.from_metadata_document else None

    def allows_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    def allows_resource(self, uri: str) -> bool:
        return self.resources is None or uri in self.resources

    def may_exchange_tokens_of(self, client_id: str) -> bool:
        """Whether a token issued to `client_id` may be exchanged by this client (RFC 8693 §5);
        another client's token must also come from a user's grant (the grant checks that)."""
        return client_id == self.client_id or client_id in self.may_exchange_for

    def allows_redirect_uri(self, redirect_uri: str) -> bool:
        # RFC 9700 §4.1.3 / RFC 6749 §3.1.2.3: simple string comparison, nothing else.
        return redirect_uri in self.redirect_uris
