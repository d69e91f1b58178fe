"""Claims of the JWTs we issue: access tokens (RFC 9068 §2.2) and ID tokens (OIDC Core §2)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.scopes import parse_scope

ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - RFC 9068 §2.1 media type
GRANT_ID_CLAIM = "grant_id"  # ours: links a token to its grant (token family) for revocation


class AccessTokenClaims(BaseModel):
    """RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat and jti are required."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    iss: str
    sub: str = Field(min_length=1)
    aud: str | list[str]
    client_id: str = Field(min_length=1)
    scope: str = ""
    iat: int
    exp: int
    jti: str = Field(min_length=1)
    nbf: int | None = None
    auth_time: int | None = None
    grant_id: str | None = None

    @property
    def scopes(self) -> frozenset[str]:
        return parse_scope(self.scope)

    @property
    def audiences(self) -> tuple[str, ...]:
        return (self.aud,) if isinstance(self.aud, str) else tuple(self.aud)


class IdTokenClaims(BaseModel):
    """OIDC Core §2 and §3.1.3.6."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    iss: str
    sub: str
    aud: str | list[str]
    exp: int
    iat: int
    auth_time: int | None = None
    nonce: str | None = None
    azp: str | None = None
    at_hash: str | None = None
    sid: str | None = None

    @property
    def audiences(self) -> tuple[str, ...]:
        return (self.aud,) if isinstance(self.aud, str) else tuple(self.aud)
