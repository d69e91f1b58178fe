"""Wire models both sides read: token responses (RFC 6749 §5.1) and introspection (RFC 7662 §2.2)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class TokenResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - RFC 6750 token type
    expires_in: int
    scope: str
    refresh_token: str | None = None
    id_token: str | None = None
    # RFC 8693 §2.2.1: what a token exchange issued (a token type URI, RFC 8693 §3).
    issued_token_type: str | None = None

    def to_wire(self) -> dict[str, str | int]:
        # RFC 6749 §5.1: omit what we did not issue rather than sending nulls.
        return self.model_dump(exclude_none=True)


class IntrospectionResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool
    scope: str | None = None
    client_id: str | None = None
    username: str | None = None
    token_type: str | None = None
    exp: int | None = None
    iat: int | None = None
    nbf: int | None = None
    sub: str | None = None
    aud: str | list[str] | None = None
    iss: str | None = None
    jti: str | None = None
    # RFC 9449 §6.2: the key a DPoP-bound token is bound to.
    cnf: dict[str, str] | None = None
    # RFC 8693 §4.1 actor chain; §4 defines its claims for introspection responses as well.
    act: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, object]:
        # RFC 7662 §2.2: an inactive token reveals nothing but `active: false`.
        if not self.active:
            return {"active": False}
        return self.model_dump(exclude_none=True)
